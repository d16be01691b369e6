import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

/** Runs `code` in a child Deno (this checkout); its exit code and output. */
async function child(code: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("runTask: a task run on the side of a command prints on stderr, leaving stdout to the command's result", async () => {
  const run = (where: string) =>
    child(
      `import { runTask } from "./cli/run_task.ts";
       Deno.exit(await runTask("build_dll.ts", ["--help"], { stdout: ${where} }));`,
    );
  const aside = await run(`"stderr"`);
  assert.equal(aside.code, 0, aside.stderr);
  assert.equal(aside.stdout, "");
  assert.match(aside.stderr, /usage: deno task build-dll/);
  const inherited = await run("undefined");
  assert.match(inherited.stdout, /usage: deno task build-dll/);
});
