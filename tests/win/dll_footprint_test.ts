// Loading heapshift.dll brings no other module into a program that does
// not have it already: mimalloc's random seeds and large-page calls go to
// an advapi32 (or bcrypt) the program loaded itself, or to the CPU's
// RDRAND (dll/advapi.c). Under Wine advapi32 would bring sechost and
// msvcrt (~1 MB resident) and bcrypt gnutls (~3 MB), into every process.
import { type Arch, fixture, hookDll, testArches } from "./harness.ts";
import { assertEquals } from "./assert.ts";
import { runProgram } from "../../cli/_test_utils.ts";

/** Runs dll_footprint (PRELOAD first, if given): only heapshift is new, live. */
async function assertOnlyHeapshift(
  arch: Arch,
  options: { preload?: string; cwd?: string } = {},
): Promise<void> {
  const out = await runProgram(
    fixture("dll_footprint.exe", arch),
    [hookDll(arch), ...(options.preload ? [options.preload] : [])],
    { cwd: options.cwd, stderr: "inherit" },
  );
  const text = out.stdout;
  assertEquals(out.code, 0, text);
  const lines = text.split(/\r?\n/).filter(Boolean);
  assertEquals(lines.at(-1), "done", text);
  assertEquals(
    lines.filter((l) => l.startsWith("new=")),
    [`new=${arch === "x86" ? "heapshift32.dll" : "heapshift.dll"}`],
    text,
  );
  assertEquals(lines.includes("live=1"), true, text);
}

testArches(
  "footprint: loading heapshift brings in no other DLL",
  (arch) => assertOnlyHeapshift(arch),
);

testArches(
  "footprint: a forwarded SystemFunction036 is followed only into a module that is loaded already",
  async (arch) => {
    // Windows' advapi32 forwards it to cryptbase; GetProcAddress on a
    // forwarder loads the target, inside DllMain. Here a stand-in advapi32
    // forwards it to hs_fwd_target.dll, which is not loaded.
    const dir = await Deno.makeTempDir({ prefix: "heapshift-fwd-" });
    try {
      const advapi = `${dir}\\advapi32.dll`;
      await Deno.copyFile(fixture("fwd_advapi.dll", arch), advapi);
      await Deno.copyFile(
        fixture("fwd_target.dll", arch),
        `${dir}\\hs_fwd_target.dll`,
      );
      await assertOnlyHeapshift(arch, { preload: advapi, cwd: dir });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
