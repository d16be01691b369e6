// tasks/unix_tools.ts: under Wine, the environment's Linux mingw-w64 tools
// as Windows programs, which the unit suite run by the Windows Deno finds
// on PATH as it would on Windows. They must give the real tool's exit
// code, stdout and stderr apart, and read Windows paths (C:\ is no Unix
// path) as the tool's files. Natively on Windows there are none: the
// user's own mingw-w64 is on PATH.
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { fixture, outputText, repoPath, test, UNDER_WINE } from "./harness.ts";
import { UNIX_TOOLS_DIR } from "../../tasks/unix_tools.ts";

function tool(name: string): string {
  return repoPath(`${UNIX_TOOLS_DIR}/${name}.exe`);
}

async function run(name: string, args: string[]) {
  const o = await new Deno.Command(tool(name), {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: o.code,
    stdout: outputText(o.stdout),
    stderr: outputText(o.stderr),
  };
}

/** A temporary folder on C: (Wine's prefix, not the checkout's Z:) with
 * a space in its name. */
async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "unix tools " });
}

test({
  name:
    "objdump under Wine reads a file named by its C:\\ path, output on stdout, exit 0",
  ignore: !UNDER_WINE,
  async fn() {
    const dir = await tempDir();
    try {
      const exe = join(dir, "f.exe");
      await Deno.copyFile(fixture("sleeper.exe"), exe);
      const r = await run("x86_64-w64-mingw32-objdump", ["-p", exe]);
      assertEquals({ code: r.code, stderr: r.stderr }, { code: 0, stderr: "" });
      assert(r.stdout.includes("DLL Name: KERNEL32.dll"), r.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

test({
  name:
    "objdump under Wine: a failure's exit code and message come back, the message on stderr only",
  ignore: !UNDER_WINE,
  async fn() {
    const dir = await tempDir();
    try {
      const r = await run("x86_64-w64-mingw32-objdump", [
        "-p",
        join(dir, "missing.exe"),
      ]);
      assert(r.code !== 0, `exit ${r.code}`);
      assertEquals(r.stdout, "");
      assert(/missing\.exe.*No such file/.test(r.stderr), r.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

test({
  name:
    "gcc under Wine compiles with -I and -o glued to C:\\ paths, and the program runs",
  ignore: !UNDER_WINE,
  async fn() {
    const dir = await tempDir();
    try {
      await Deno.mkdir(join(dir, "inc"));
      await Deno.writeTextFile(join(dir, "inc", "msg.h"), '#define MSG "hi"\n');
      await Deno.writeTextFile(
        join(dir, "m.c"),
        '#include <stdio.h>\n#include "msg.h"\nint main(void) { puts(MSG); return 3; }\n',
      );
      const exe = join(dir, "m.exe");
      const r = await run("x86_64-w64-mingw32ucrt-gcc", [
        `-I${join(dir, "inc")}`,
        join(dir, "m.c"),
        `-o${exe}`,
      ]);
      assertEquals(r, { code: 0, stdout: "", stderr: "" });
      const o = await new Deno.Command(exe, { stdout: "piped" }).output();
      assertEquals([o.code, outputText(o.stdout)], [3, "hi\n"]);
      const bad = await run("x86_64-w64-mingw32ucrt-gcc", [join(dir, "no.c")]);
      assert(bad.code !== 0 && bad.stderr.includes("no.c"), bad.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
