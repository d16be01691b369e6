import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

/**
 * Runs `code` (a module evaluated in the checkout's root) in a child Deno,
 * sends it SIGINT `interrupts` times, 300 ms apart, once it has printed
 * "waiting", and gives its output once it has ended.
 */
async function interrupted(
  code: string,
  interrupts: number,
): Promise<{ text: string; stderr: string; ok: boolean; ms: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  while (!text.includes("waiting")) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  const t0 = Date.now();
  for (let i = 0; i < interrupts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGINT");
  }
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  const stderr = await errors;
  const status = await child.status;
  return { text, stderr, ok: status.success, ms: Date.now() - t0 };
}

Deno.test({
  name:
    "eject: Ctrl+C while it runs (its look suspends the program's threads) waits for it to end",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const { text, ok } = await interrupted(
      `import { ejectUninterrupted } from "./cli/commands/eject.ts";
         const v = await ejectUninterrupted(() =>
           new Promise((r) => {
             setTimeout(() => console.log("waiting"), 200); // listening by then
             setTimeout(() => r("ejected"), 1500);
           }), 1234);
         console.log("done " + v);`,
      1,
    );
    assert.match(text, /done ejected/);
    assert.equal(ok, true);
  },
});

Deno.test({
  name:
    "eject: a second Ctrl+C stops waiting for it (between the steps of its work, never in its look at the threads)",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const { text, stderr, ms } = await interrupted(
      `import { ejectUninterrupted } from "./cli/commands/eject.ts";
         try {
           const v = await ejectUninterrupted(() =>
             new Promise((r) => {
               setTimeout(() => console.log("waiting"), 200);
               setTimeout(() => r("ejected"), 20000);
             }), 1234);
           console.log("done " + v);
         } catch (e) {
           console.log("stopped " + e.exitCode + " " + e.message);
         }
         Deno.exit(0);`,
      2,
    );
    assert.ok(ms < 10_000, "it waited for the eject");
    assert.match(text, /stopped 130 interrupted .*`modules 1234`/);
    assert.doesNotMatch(text, /done/);
    assert.match(stderr, /eject is finishing .*Ctrl\+C again to stop waiting/);
  },
});
