// Loading heapshift.dll brings no other module into a program that does
// not have it already, and calls none the program loaded: mimalloc's
// random seeds come from the CPU's RDRAND, its large-page privilege calls
// from ntdll (dll/advapi.c). Under Wine advapi32 would bring sechost and
// msvcrt (~1 MB resident) and bcrypt gnutls (~3 MB), into every process.
import {
  type Arch,
  fixture,
  hookDll,
  testArches,
  UNDER_WINE,
} from "./harness.ts";
import { assertEquals } from "./assert.ts";
import { runProgram } from "../../cli/_test_utils.ts";

function reg(args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command("reg", { args, stdout: "null", stderr: "piped" })
    .output();
}

/**
 * Runs `fn` with Wine loading the DLL file dll_footprint (of `arch`) names
 * by its path for `name` (a stand-in advapi32.dll), where it would load
 * its own builtin of that name. Windows loads the file already. The
 * override is the program's own (Wine's AppDefaults) and goes again after.
 */
async function withNative(arch: Arch, name: string, fn: () => Promise<void>) {
  if (!UNDER_WINE) return await fn();
  const exe = fixture("dll_footprint.exe", arch).replace(/^.*[\\/]/, "");
  const key = `HKCU\\Software\\Wine\\AppDefaults\\${exe}\\DllOverrides`;
  const added = await reg(["add", key, "/v", name, "/d", "native", "/f"]);
  assertEquals(added.code, 0, `reg add ${key} ${name}`);
  try {
    await fn();
  } finally {
    // reported, not thrown: a throw here would hide the test's own error
    const removed = await reg(["delete", key, "/v", name, "/f"]);
    if (removed.code !== 0) {
      console.error(`reg delete ${key} /v ${name} failed`);
    }
  }
}

/** Runs dll_footprint (PRELOAD first, if given): only heapshift is new, live.
 * Returns its output lines and its stderr. */
async function assertOnlyHeapshift(
  arch: Arch,
  options: { preload?: string; cwd?: string; env?: Record<string, string> } =
    {},
): Promise<{ lines: string[]; stderr: string }> {
  const out = await runProgram(
    fixture("dll_footprint.exe", arch),
    [hookDll(arch), ...(options.preload ? [options.preload] : [])],
    { cwd: options.cwd, env: options.env },
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
  return { lines, stderr: out.stderr };
}

testArches(
  "footprint: loading heapshift brings in no other DLL",
  (arch) => assertOnlyHeapshift(arch),
);

testArches(
  "footprint: mimalloc's random seed and large-page calls go to no other module, not even one the program loaded",
  async (arch) => {
    // Loaded at start, heapshift's DllMain may run before the program's
    // advapi32, cryptbase or bcrypt are initialised: calling into them then
    // crashes on Windows (mimalloc #623, #1185), and advapi32's privilege
    // lookup goes on to sechost and the LSA. A spy stands in for each;
    // MIMALLOC_LARGE_OS_PAGES makes mimalloc ask for the privilege.
    const dir = await Deno.makeTempDir({ prefix: "heapshift-spy-" });
    try {
      for (const name of ["advapi32.dll", "bcrypt.dll"]) {
        const spy = `${dir}\\${name}`;
        await Deno.copyFile(fixture("advapi_spy.dll", arch), spy);
        await withNative(arch, name.replace(".dll", ""), async () => {
          const { lines, stderr } = await assertOnlyHeapshift(arch, {
            preload: spy,
            cwd: dir,
            env: { MIMALLOC_LARGE_OS_PAGES: "1", MIMALLOC_SHOW_ERRORS: "1" },
          });
          assertEquals(lines.includes("stand_in=1"), true, lines.join("\n"));
          if (UNDER_WINE) {
            // mimalloc asked (through ntdll) and Wine refused, as advapi32
            // would: ERROR_NOT_ALL_ASSIGNED
            assertEquals(
              /large OS page support, error 1300/.test(stderr),
              true,
              stderr,
            );
          }
          assertEquals(
            lines.filter((l) => l.startsWith("spy_calls=")),
            ["spy_calls=0"],
            `${name}:\n${lines.join("\n")}`,
          );
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
