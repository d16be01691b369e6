import assert from "node:assert/strict";

Deno.test({
  name:
    "eject: Ctrl+C while it runs (its look suspends the program's threads) waits for it to end",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { ejectUninterrupted } from "./cli/commands/eject.ts";
         const v = await ejectUninterrupted(() =>
           new Promise((r) => {
             setTimeout(() => console.log("waiting"), 200); // listening by then
             setTimeout(() => r("ejected"), 1500);
           }), 1234);
         console.log("done " + v);`,
      ],
      cwd: new URL("../..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("waiting")) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
    }
    child.kill("SIGINT");
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
    }
    const status = await child.status;
    assert.match(text, /done ejected/);
    assert.equal(status.success, true);
  },
});

Deno.test({
  name:
    "eject: a second Ctrl+C stops waiting for it (between the steps of its work, never in its look at the threads)",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
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
      ],
      cwd: new URL("../..", import.meta.url).pathname,
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
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGINT");
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
    }
    const stderr = await errors;
    await child.status;
    assert.ok(Date.now() - t0 < 10_000, "it waited for the eject");
    assert.match(text, /stopped 130 interrupted .*`modules 1234`/);
    assert.doesNotMatch(text, /done/);
    assert.match(stderr, /eject is finishing .*Ctrl\+C again to stop waiting/);
  },
});
