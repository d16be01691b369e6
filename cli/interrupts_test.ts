import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

/** Reads until `text` has appeared; fails if the output ends first. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  out: { text: string },
  text: string,
): Promise<void> {
  while (!out.text.includes(text)) {
    const r = await reader.read();
    if (r.done) assert.fail(`output ended before "${text}": ${out.text}`);
    out.text += r.value;
  }
}

/** The rest of the output, to its end. */
async function readAll(
  reader: ReadableStreamDefaultReader<string>,
  out: { text: string },
): Promise<void> {
  for (;;) {
    const r = await reader.read();
    if (r.done) return;
    out.text += r.value;
  }
}

/**
 * Runs `work` (an expression awaited in a child Deno, which prints
 * "waiting" once it listens), interrupts it once while it runs and once
 * after: what it printed, and whether it ended well.
 */
async function interruptTwice(
  work: string,
): Promise<{ text: string; success: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import * as i from "./cli/interrupts.ts";
       const v = await ${work};
       console.log("done " + v);
       await new Promise((r) => setTimeout(r, 5000));
       console.log("not interrupted");`,
    ],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  const out = { text: "" };
  await readUntil(reader, out, "waiting");
  child.kill("SIGINT"); // during the work
  await readUntil(reader, out, "done");
  child.kill("SIGINT"); // after it: the default, the process ends
  await readAll(reader, out);
  return { text: out.text, success: (await child.status).success };
}

Deno.test({
  name:
    "ignoringInterrupts: Ctrl+C while waiting leaves the wait to finish, and afterwards ends the process as usual",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const r = await interruptTwice(`i.ignoringInterrupts(() =>
      new Promise((r) => {
        setTimeout(() => console.log("waiting"), 200); // listening by then
        setTimeout(() => r(7), 1500);
      }))`);
    assert.match(r.text, /done 7/);
    assert.doesNotMatch(r.text, /not interrupted/);
    assert.equal(r.success, false);
  },
});

Deno.test({
  name:
    "abortingOnInterrupt: Ctrl+C aborts the signal handed to the work, which ends as it decides; afterwards Ctrl+C ends the process as usual",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const r = await interruptTwice(`i.abortingOnInterrupt((signal) =>
      new Promise((r) => {
        setTimeout(() => console.log("waiting"), 200); // listening by then
        const t = setTimeout(() => r("timed out"), 10000);
        signal.addEventListener("abort", () => {
          clearTimeout(t);
          r("aborted: " + (signal.reason instanceof DOMException ? signal.reason.name : "?"));
        });
      }))`);
    assert.match(r.text, /done aborted: AbortError/);
    assert.doesNotMatch(r.text, /not interrupted/);
    assert.equal(r.success, false);
  },
});
