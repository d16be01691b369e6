// Loading heapshift.dll brings no other module into a program that does
// not have it already: mimalloc's large-page calls go to an advapi32 the
// program loaded itself, its random seeds to the CPU's RDRAND
// (dll/advapi.c). Under Wine advapi32 would bring sechost and msvcrt (~1
// MB resident) and bcrypt gnutls (~3 MB), into every process.
import {
  type Arch,
  fixture,
  hookDll,
  testArches,
  UNDER_WINE,
} from "./harness.ts";
import { assertEquals } from "./assert.ts";
import { runProgram } from "../../cli/_test_utils.ts";

async function reg(args: string[]): Promise<void> {
  const out = await new Deno.Command("reg", { args, stdout: "null" })
    .output();
  assertEquals(out.code, 0, `reg ${args.join(" ")}`);
}

/**
 * Runs `fn` with Wine loading the DLL file dll_footprint (of `arch`) names
 * by its path for each of `names` (a stand-in advapi32.dll), where it
 * would load its own builtin of that name. Windows loads the file already.
 */
async function withNative(
  arch: Arch,
  names: string[],
  fn: () => Promise<void>,
) {
  if (!UNDER_WINE) return await fn();
  const exe = fixture("dll_footprint.exe", arch).replace(/^.*[\\/]/, "");
  const key = `HKCU\\Software\\Wine\\AppDefaults\\${exe}`;
  for (const n of names) {
    await reg(["add", `${key}\\DllOverrides`, "/v", n, "/d", "native", "/f"]);
  }
  try {
    await fn();
  } finally {
    await reg(["delete", key, "/f"]);
  }
}

/** Runs dll_footprint (PRELOAD first, if given): only heapshift is new, live.
 * Returns its output lines. */
async function assertOnlyHeapshift(
  arch: Arch,
  options: { preload?: string; cwd?: string; env?: Record<string, string> } =
    {},
): Promise<string[]> {
  const out = await runProgram(
    fixture("dll_footprint.exe", arch),
    [hookDll(arch), ...(options.preload ? [options.preload] : [])],
    { cwd: options.cwd, env: options.env, stderr: "inherit" },
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
  return lines;
}

/** The program loaded the test's stand-in, not the system's DLL. */
function assertStandIn(lines: string[]) {
  assertEquals(lines.includes("stand_in=1"), true, lines.join("\n"));
}

testArches(
  "footprint: loading heapshift brings in no other DLL",
  (arch) => assertOnlyHeapshift(arch),
);

testArches(
  "footprint: a forwarded advapi32 export is followed only into a module that is loaded already",
  async (arch) => {
    // GetProcAddress on a forwarder loads the target, inside DllMain. Here
    // a stand-in advapi32 forwards OpenProcessToken, which mimalloc's
    // large-page support calls at initialisation, to hs_fwd_target.dll,
    // which is not loaded.
    const dir = await Deno.makeTempDir({ prefix: "heapshift-fwd-" });
    try {
      const advapi = `${dir}\\advapi32.dll`;
      await Deno.copyFile(fixture("fwd_advapi.dll", arch), advapi);
      await Deno.copyFile(
        fixture("fwd_target.dll", arch),
        `${dir}\\hs_fwd_target.dll`,
      );
      await withNative(arch, ["advapi32"], async () => {
        const lines = await assertOnlyHeapshift(arch, {
          preload: advapi,
          cwd: dir,
          env: { MIMALLOC_LARGE_OS_PAGES: "1" },
        });
        assertStandIn(lines);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testArches(
  "footprint: mimalloc's random seed is asked of no other module, not even one the program loaded",
  async (arch) => {
    // Loaded at start, heapshift's DllMain may run before the program's
    // advapi32, cryptbase or bcrypt are initialised: calling into them then
    // crashes on Windows (mimalloc #623, #1185). A spy stands in for each.
    const dir = await Deno.makeTempDir({ prefix: "heapshift-rng-" });
    try {
      for (const name of ["advapi32.dll", "bcrypt.dll"]) {
        const spy = `${dir}\\${name}`;
        await Deno.copyFile(fixture("rng_spy.dll", arch), spy);
        await withNative(arch, [name.replace(".dll", "")], async () => {
          const lines = await assertOnlyHeapshift(arch, {
            preload: spy,
            cwd: dir,
          });
          assertStandIn(lines);
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
