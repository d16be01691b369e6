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
           }));
         console.log("done " + v);`,
      ],
      cwd: new URL("../..", import.meta.url).pathname,
      stdout: "piped",
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
