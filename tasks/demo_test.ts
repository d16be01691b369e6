import assert from "node:assert/strict";
import { demoArch, demoArgs, DemoUsageError } from "./demo.ts";

Deno.test("demoArch: --arch picks the sample's architecture, x64 by default", () => {
  assert.equal(demoArch([]), "x64");
  assert.equal(demoArch(["--before", "3"]), "x64");
  assert.equal(demoArch(["--arch", "x86", "--json"]), "x86");
  assert.equal(demoArch(["--arch=x86"]), "x86");
  assert.throws(
    () => demoArch(["--arch", "arm64"]),
    /--arch must be x64 or x86, not 'arm64'/,
  );
});

Deno.test("deno task demo --arch without a value is a usage error (exit 2), said before anything is provisioned or built", async () => {
  for (const args of [["--arch"], ["--arch", "--json"], ["--arch", "arm64"]]) {
    assert.throws(() => demoArch(args), DemoUsageError, args.join(" "));
  }
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./demo.ts", import.meta.url).pathname,
      "--arch",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  // Said as `cli.ts demo --arch` says it.
  assert.deepEqual(
    [r.code, new TextDecoder().decode(r.stderr), r.stdout.length],
    [
      2,
      "error: option '--arch <arch>' argument missing\n(run with --help for usage)\n",
      0,
    ],
  );
});

Deno.test("demoArgs: --sample and --dll are made absolute against where the demo was started (it runs from the checkout's root)", () => {
  assert.deepEqual(
    demoArgs([
      "--sample",
      "my/sample.exe",
      "--dll=hs.dll",
      "--before",
      "3",
      "--json",
    ], "/home/u/work"),
    [
      "--sample",
      "/home/u/work/my/sample.exe",
      "--dll=/home/u/work/hs.dll",
      "--before",
      "3",
      "--json",
    ],
  );
  assert.deepEqual(
    demoArgs(["--sample", "/abs/s.exe", "--dll", "C:\\x\\hs.dll"], "/w"),
    ["--sample", "/abs/s.exe", "--dll", "C:\\x\\hs.dll"],
  );
  assert.deepEqual(demoArgs(["--dll", "hs.dll"], "C:\\Users\\u\\"), [
    "--dll",
    "C:\\Users\\u\\hs.dll",
  ]);
});

Deno.test({
  name:
    "deno task demo --help, or a bad --threads or --before, is answered before anything is provisioned or built",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    // A cache inside the checkout: provisioning, if it started, would stop
    // at once (it refuses that place) instead of downloading 5 GB.
    const root = new URL("../", import.meta.url).pathname;
    const cache = `${root}build/demo-test-no-cache`;
    try {
      for (
        const [args, code, out] of [
          [["--help"], 0, /Usage: heapshift demo[\s\S]*--threads <n>/],
          [["--threads", "17"], 2, /^$/],
          [["--before", "x"], 2, /^$/],
          [["--no-such-option"], 2, /^$/],
        ] as const
      ) {
        const r = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("./demo.ts", import.meta.url).pathname,
            ...args,
          ],
          env: { XDG_CACHE_HOME: cache, HEAPSHIFT_WINE_PREFIX: "demo-test" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const [stdout, stderr] = [r.stdout, r.stderr].map((b) =>
          new TextDecoder().decode(b)
        );
        assert.doesNotMatch(stderr, /\[demo\]|provision/, args.join(" "));
        assert.equal(r.code, code, `${args.join(" ")}: ${stderr}`);
        assert.match(stdout, out, args.join(" "));
        if (code === 2) assert.match(stderr, /^error: /, args.join(" "));
      }
    } finally {
      await Deno.remove(cache, { recursive: true }).catch(() => {});
    }
  },
});
