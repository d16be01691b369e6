// The DLL fixtures are given the hook DLL's path on their command line. A
// path that is not ASCII (a user's name in C:\Users\…, where the checkout
// and %TEMP% are) must reach LoadLibraryW as Windows passed it: the CRT's
// narrow argv holds it in the ANSI code page, which is not UTF-8 (a path
// under C:\Users\Zoë) and, on a Western Windows, has no 日本. The same
// goes for the other paths fixtures take on their command line: a file to
// write, a plugin to load, a DLL to load beside the hook DLL.
import { assert, assertEquals } from "./assert.ts";
import { runProgram } from "../../cli/_test_utils.ts";
import {
  type Arch,
  fixture,
  hookDll,
  runFixture,
  startTarget,
  test,
  testArches,
} from "./harness.ts";

/** Runs `body` in a new temporary directory whose name holds `name`. */
async function withDir(
  name: string,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `heapshift-${name}-` });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Runs `body` with a copy of the hook DLL in a directory named `name`. */
function withDllIn(
  name: string,
  arch: Arch,
  body: (dll: string) => Promise<void>,
): Promise<void> {
  return withDir(name, async (dir) => {
    const dll = `${dir}\\${hookDll(arch).replace(/^.*\\/, "")}`;
    await Deno.copyFile(hookDll(arch), dll);
    await body(dll);
  });
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

test("fixtures: api_msvcrt_host loads a plugin at a path that is not ASCII", async () => {
  // msvcrt.dll's narrow argv is in the ANSI code page too.
  for (const name of NAMES) {
    await withDir(name, async (dir) => {
      const plugin = `${dir}\\probe.dll`;
      await Deno.copyFile(fixture("probe.dll"), plugin);
      await using host = await startTarget(fixture("api_msvcrt_host.exe"), {
        args: [plugin],
      });
      assertEquals(host.readyPid > 0, true, name);
    });
  }
});

testArches(
  "fixtures: api_launchee writes its file at a path that is not ASCII, its arguments and folder in UTF-8",
  async (arch) => {
    for (const name of NAMES) {
      await withDir(name, async (dir) => {
        const out = `${dir}\\out.txt`;
        const r = await runProgram(fixture("api_launchee.exe", arch), [
          out,
          name,
        ], { cwd: dir, stderr: "inherit" });
        assertEquals(r.code, 7, `${name}: exit code`);
        const lines = (await Deno.readTextFile(out)).split(/\r?\n/);
        assert(lines.includes(`arg=${name}`), `${name}: ${lines.join("\n")}`);
        const cwd = lines.find((l) => l.startsWith("cwd="))?.slice(4);
        assertEquals(
          cwd?.toLowerCase().replace(/\\$/, ""),
          dir.toLowerCase(),
          name,
        );
      });
    }
  },
);

testArches(
  "fixtures: dll_trim loads its detach DLL at a path that is not ASCII (exit mode)",
  async (arch) => {
    for (const name of NAMES) {
      await withDir(name, async (dir) => {
        const detach = `${dir}\\dll_trim_detach.dll`;
        await Deno.copyFile(fixture("dll_trim_detach.dll", arch), detach);
        // Its exit mode needs the trimmer walking, which Wine's heap runs
        // only when asked (dll_trim_test.ts).
        const { lines, code } = await runFixture(
          fixture("dll_trim.exe", arch),
          [hookDll(arch), "exit", detach],
          {
            env: { WINEDEBUG: "-all,+pid,err+heap", HEAPSHIFT_TRIM_WALK: "1" },
            arch,
          },
        );
        // 8: the DLL did not load
        assertEquals(code, 0, `${name}:\n${lines.join("\n")}`);
      });
    }
  },
);

testArches(
  "fixtures: dll_exit and dll_exit_lock load their late DLL from their own folder when its name is not ASCII",
  async (arch) => {
    const base = (path: string) => path.replace(/^.*\\/, "");
    for (const name of NAMES) {
      await withDir(name, async (dir) => {
        const late = fixture("dll_exit_late.dll", arch);
        await Deno.copyFile(late, `${dir}\\${base(late)}`);
        for (
          const [exe, args] of [
            ["dll_exit.exe", ["before", "exit"]],
            ["dll_exit_lock.exe", ["reserve", "ExitProcess"]],
          ] as const
        ) {
          const copy = `${dir}\\${base(fixture(exe, arch))}`;
          await Deno.copyFile(fixture(exe, arch), copy);
          // 3: the late DLL did not load
          const r = await runProgram(copy, [hookDll(arch), ...args], {
            stderr: "inherit",
          });
          assertEquals(r.code, 0, `${name}, ${exe}: ${r.stdout}`);
        }
      });
    }
  },
);

// A path longer than MAX_PATH does not fit the fixtures' buffers: they end
// saying so (exit 2), rather than load a path cut short (or, from UTF-8,
// one never terminated).
test("fixtures: a DLL path longer than MAX_PATH ends the fixture, saying so", async () => {
  const long = `C:\\${"x".repeat(300)}\\heapshift.dll`;
  for (
    const [exe, args] of [["dll_counters.exe", [long]], ["dll_sites.exe", [
      "at",
      long,
    ]]] as const
  ) {
    const out = await runProgram(fixture(exe), [...args], { stderr: "piped" });
    assertEquals(
      { code: out.code, says: /longer than MAX_PATH/.test(out.stderr) },
      { code: 2, says: true },
      `${exe}: ${out.stdout}${out.stderr}`,
    );
  }
});
