// The Windows suite's ground: it runs on a Windows Deno (natively or under
// Wine) and the fixtures built from tests/fixtures are real Windows programs.
import { assert, assertEquals } from "./assert.ts";
import { fixture, outputText, repoPath, startTarget, test } from "./harness.ts";

test("the Windows suite runs on Windows Deno", () => {
  assertEquals(Deno.build.os, "windows");
  assertEquals(Deno.build.arch, "x86_64");
});

test("a fixture program starts and reports its pid", async () => {
  await using target = await startTarget(fixture("sleeper.exe"));
  assert(target.pid > 0);
  assertEquals(target.readyPid, target.pid);
});

// Natively on Windows `deno task test`, the bench and `deno task env run`
// run the Windows side with tasks/winenv.ts's runInEnv: what it prints
// (a failed test's message) must reach the user.
test("runInEnv on Windows: the command's stdout and stderr reach ours, not a pipe nobody reads", async () => {
  const inner = `console.log("to-stdout"); console.error("to-stderr");`;
  const out = await new Deno.Command(Deno.execPath(), {
    // --quiet: Deno's own notes ("Download https://registry.npmjs.org/dax",
    // which a Deno may print when it checks the npm registry again) are
    // not the command's output
    args: [
      "eval",
      "--quiet",
      `import { runInEnv } from "./tasks/winenv.ts";
       Deno.exit(await runInEnv(["windeno", "eval", "--quiet", ${
        JSON.stringify(inner)
      }]));`,
    ],
    cwd: repoPath("."),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(
    {
      code: out.code,
      stdout: outputText(out.stdout),
      stderr: outputText(out.stderr),
    },
    { code: 0, stdout: "to-stdout\n", stderr: "to-stderr\n" },
  );
});

// Natively on Windows the tasks run MinGW themselves (tasks/toolchain.ts):
// a failed build's CompileError says the compiler's messages are above.
test("compile natively on Windows: the compiler's messages reach ours", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-cc-" });
  try {
    // a stand-in compiler (found on PATH) that writes to stderr
    await Deno.copyFile(
      fixture("harness_stdio.exe"),
      `${dir}\\x86_64-w64-mingw32ucrt-gcc.exe`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `import { compile } from "./tasks/toolchain.ts";
         await compile({ sources: [], out: ${
          JSON.stringify(`${dir}\\x.exe`)
        } }).catch(() => {});`,
      ],
      cwd: repoPath("."),
      env: { PATH: `${dir};${Deno.env.get("PATH") ?? ""}` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(
      { code: out.code, stderr: outputText(out.stderr) },
      { code: 0, stderr: "to-stderr\n" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
