import assert from "node:assert/strict";

Deno.test({
  name:
    "ignoringInterrupts: Ctrl+C while waiting leaves the wait to finish, and afterwards ends the process as usual",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { ignoringInterrupts } from "./cli/interrupts.ts";
         console.log("waiting");
         const v = await ignoringInterrupts(() => new Promise((r) => setTimeout(() => r(7), 1500)));
         console.log("done " + v);
         await new Promise((r) => setTimeout(r, 5000));
         console.log("not interrupted");`,
      ],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    while (!out.includes("waiting")) out += (await reader.read()).value ?? "";
    child.kill("SIGINT"); // during the wait: ignored
    while (!out.includes("done")) out += (await reader.read()).value ?? "";
    child.kill("SIGINT"); // after it: the default, the process ends
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      out += r.value;
    }
    const status = await child.status;
    assert.match(out, /done 7/);
    assert.doesNotMatch(out, /not interrupted/);
    assert.equal(status.success, false);
  },
});
