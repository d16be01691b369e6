// The DLL fixtures are given the hook DLL's path on their command line. A
// path that is not ASCII (a user's name in C:\Users\…, where the checkout
// and %TEMP% are) must reach LoadLibraryW as Windows passed it: the CRT's
// narrow argv holds it in the ANSI code page, which is not UTF-8 (a path
// under C:\Users\Zoë) and, on a Western Windows, has no 日本.
import { assertEquals } from "./assert.ts";
import { runProgram } from "../../cli/_test_utils.ts";
import {
  type Arch,
  fixture,
  hookDll,
  startTarget,
  test,
  testArches,
} from "./harness.ts";

/** Runs `body` with a copy of the hook DLL in a directory named `name`. */
async function withDllIn(
  name: string,
  arch: Arch,
  body: (dll: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `heapshift-${name}-` });
  try {
    const dll = `${dir}\\${hookDll(arch).replace(/^.*\\/, "")}`;
    await Deno.copyFile(hookDll(arch), dll);
    await body(dll);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const NAMES = ["Zoë", "日本"];

testArches(
  "fixtures: a hook DLL at a path that is not ASCII loads (load_utf8, dll_sites)",
  async (arch) => {
    for (const name of NAMES) {
      await withDllIn(name, arch, async (dll) => {
        const out = await runProgram(fixture("dll_counters.exe", arch), [dll], {
          stderr: "inherit",
        });
        assertEquals(
          out.stdout.split(/\r?\n/)[0],
          "live=1",
          `${name}: ${out.stdout}`,
        );
        assertEquals(out.code, 0, `${name}: ${out.stdout}`);
        const sites = await runProgram(fixture("dll_sites.exe", arch), [
          "at",
          dll,
        ], {
          stderr: "inherit",
          env: { HEAPSHIFT_VERBOSE: "" },
        });
        assertEquals(
          /^state=1$/m.test(sites.stdout),
          true,
          `${name}: ${sites.stdout}`,
        );
      });
    }
  },
);

test("fixtures: dll_stale hands a path that is not ASCII on to its child", async () => {
  for (const name of NAMES) {
    await withDllIn(name, "x64", async (dll) => {
      await using target = await startTarget(fixture("dll_stale.exe"), {
        args: ["same", dll],
      });
      const first = await target.lines.next();
      assertEquals(first.done ? undefined : first.value, "child.state=1", name);
    });
  }
});

testArches(
  "fixtures: programs that load a DLL named on their command line take its path as Windows passed it (api_dynuser, dll_reloc)",
  async (arch) => {
    for (const name of NAMES) {
      const dir = await Deno.makeTempDir({ prefix: `heapshift-${name}-` });
      try {
        const probe = `${dir}\\probe.dll`;
        await Deno.copyFile(fixture("probe.dll", arch), probe);
        await using user = await startTarget(
          fixture("api_dynuser.exe", arch),
          { args: [probe] },
        );
        assertEquals(user.readyPid > 0, true, name);
        await withDllIn(name, arch, async (dll) => {
          const reloc = `${dir}\\dll_reloc.dll`;
          await Deno.copyFile(fixture("dll_reloc.dll", arch), reloc);
          const out = await runProgram(
            fixture("dll_reloc.exe", arch),
            [dll, reloc],
            { stderr: "inherit" },
          );
          assertEquals(out.code, 0, `${name}: ${out.stdout}`);
          assertEquals(/^relocated=1$/m.test(out.stdout), true, out.stdout);
        });
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  },
);
