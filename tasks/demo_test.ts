import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { demoArch, demoArgs, DemoUsageError } from "./demo.ts";
import { exists, isProvisioned, rootfsDir } from "./winenv.ts";
import { readLines } from "../src/_lines.ts";

Deno.test("demoArch: --arch picks the sample's architecture, x64 by default", () => {
  assert.equal(demoArch([]), "x64");
  assert.equal(demoArch(["--before", "3"]), "x64");
  assert.equal(demoArch(["--arch", "x86", "--json"]), "x86");
  assert.equal(demoArch(["--arch=x86"]), "x86");
  // Given twice, the last one counts, as it does for cli.ts demo.
  assert.equal(demoArch(["--arch", "x86", "--arch=x64"]), "x64");
  assert.equal(demoArch(["--arch=x64", "--arch", "x86"]), "x86");
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
      fileURLToPath(new URL("./demo.ts", import.meta.url)),
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
    const root = fileURLToPath(new URL("../", import.meta.url));
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
            fileURLToPath(new URL("./demo.ts", import.meta.url)),
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

// The environment sees only the checkout: a --dll or --sample elsewhere was
// looked for there, after the DLL was built, and said not to exist.
Deno.test({
  name:
    "deno task demo given a --dll or --sample outside the checkout refuses it, saying why, before anything is provisioned or built",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const root = fileURLToPath(new URL("../", import.meta.url));
    const cache = `${root}build/demo-test-no-cache`;
    const outside = await Deno.makeTempDir();
    try {
      const file = `${outside}/hs.dll`;
      await Deno.writeFile(file, new Uint8Array([0x4d, 0x5a]));
      for (const option of ["--dll", "--sample"]) {
        const r = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            fileURLToPath(new URL("./demo.ts", import.meta.url)),
            option,
            "hs.dll",
          ],
          cwd: outside,
          env: {
            // run by `deno task` from there (under `deno task test`, ours
            // would name the checkout)
            INIT_CWD: outside,
            XDG_CACHE_HOME: cache,
            HEAPSHIFT_WINE_PREFIX: "demo-test",
            // (the cache moved: Deno's own stays where it is)
            DENO_DIR: Deno.env.get("DENO_DIR") ??
              `${Deno.env.get("HOME")}/.cache/deno`,
          },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(r.stderr);
        assert.doesNotMatch(stderr, /\[demo\]|provision/, option);
        assert.equal(r.code, 1, `${option}: ${stderr}`);
        assert.ok(
          stderr.endsWith(
            `error: Cannot use ${file} in the project's Wine environment: it sees only the checkout, ${
              root.replace(/\/$/, "")
            }; copy the file under it, or use your own Wine prefix (--prefix DIR)\n`,
          ),
          `${option}: ${stderr}`,
        );
      }
    } finally {
      await Deno.remove(outside, { recursive: true });
      await Deno.remove(cache, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "deno task demo (and cli.ts demo) stopped with Ctrl+C leaves no process, no heap log in build/ and no copy of the Windows Deno in the Wine prefix",
  // the Wine environment (chroot, mounts) needs root, as provisioning
  // does; run alone on a fresh machine, this test provisions nothing
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0 || !isProvisioned(),
  fn: async () => {
    const root = fileURLToPath(new URL("../", import.meta.url));
    const prefix = Deno.env.get("HEAPSHIFT_WINE_PREFIX") ?? "demo";
    const copies =
      `${rootfsDir()}/root/wine-${prefix}/drive_c/users/root/AppData/Local/deno/node_compat_bin`;
    const left = () => [
      ...[...Deno.readDirSync(`${root}build`)]
        .filter((e) => e.name.startsWith("wine-heap-"))
        .map((e) => `build/${e.name}`),
      ...(exists(copies) ? [...Deno.readDirSync(copies)] : [])
        .filter((e) => e.name.startsWith("node.exe.tmp-"))
        .map((e) => `${copies}/${e.name}`),
    ];
    for (
      const cmd of [
        [fileURLToPath(new URL("./demo.ts", import.meta.url))],
        [fileURLToPath(new URL("../cli.ts", import.meta.url)), "demo"],
      ]
    ) {
      await interrupted(cmd, left);
    }
  },
});

// A --dll or --sample given is what the demo runs: building the default
// one first cost a first run its minutes, and stopped the demo where the
// checkout cannot build (no compiler on Windows).
Deno.test({
  name:
    "deno task demo given --dll and --sample builds neither the hook DLL nor the sample, and runs with them",
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0 || !isProvisioned(),
  fn: async () => {
    const root = fileURLToPath(new URL("../", import.meta.url));
    const dll = `${root}build/heapshift.dll`;
    const sample = `${root}build/demo/sample.exe`;
    if (!exists(dll) || !exists(sample)) return; // built by the demo's runs
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        fileURLToPath(new URL("./demo.ts", import.meta.url)),
        "--dll",
        dll,
        "--sample",
        sample,
        "--before",
        "1",
        "--after",
        "1",
        "--json",
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, stderr);
    assert.doesNotMatch(stderr, /hook DLL|Building|sample program/);
    const out = JSON.parse(new TextDecoder().decode(r.stdout));
    assert.ok(out.summary, "the demo ran");
  },
});

/**
 * Runs the demo with `cmd` (`deno run -A …`) and interrupts it once the
 * sample runs; then no new `left()` and no process of its runs on.
 */
async function interrupted(cmd: string[], left: () => string[]) {
  const before = new Set(left());
  // In a session of its own, so that the interrupt goes to its whole
  // process group, as a terminal's Ctrl+C does.
  const child = new Deno.Command("setsid", {
    args: [
      Deno.execPath(),
      "run",
      "-A",
      ...cmd,
      "--before",
      "120",
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = readLines(child.stdout);
  let seen = "";
  for (let l = await lines.next(); !l.done; l = await lines.next()) {
    seen += l.value + "\n";
    if (/\d\.\ds\s+UCRT/.test(l.value)) break; // the sample runs
  }
  assert.match(seen, /UCRT/, "the demo ran");
  await new Deno.Command("kill", { args: ["-INT", "--", `-${child.pid}`] })
    .output();
  while (!(await lines.next()).done) { /* to its end */ }
  const { code } = await child.status;
  assert.notEqual(code, 0, "an interrupted demo is no success");
  // Nothing it started runs on (the sample, Wine's processes); an
  // ended one its init has not reaped yet (a zombie) does not count.
  const ps = await new Deno.Command("ps", {
    args: ["-eo", "sid=,stat=,args="],
    stdout: "piped",
  }).output();
  const running = new TextDecoder().decode(ps.stdout).split("\n").filter(
    (l) => {
      const [sid, stat] = l.trim().split(/\s+/);
      return sid === String(child.pid) && !stat.startsWith("Z");
    },
  );
  assert.deepEqual(running, []);
  assert.deepEqual(left().filter((f) => !before.has(f)), []);
}
