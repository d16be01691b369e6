import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { PeBenchRow } from "./pe_bench.ts";

/** `deno task bench-pe ARGS`: its exit code and output. */
async function benchPe(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(new URL("./pe_bench.ts", import.meta.url)),
      ...args,
    ],
    // a file that is not there: a run that starts ends at once
    env: { HEAPSHIFT_DENO_EXE: "no-such-deno.exe", NO_COLOR: "1" },
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("deno task bench-pe --help prints the usage and times nothing", async () => {
  const r = await benchPe("--help");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: deno task bench-pe \[--runs N\]/);
  assert.equal(r.stderr, "");
});

Deno.test("deno task bench-pe refuses an unknown option or a bad --runs (exit 2), saying which, before reading any file", async () => {
  for (
    const [args, says] of [
      [["--bogus"], "unknown option --bogus"],
      [["--runs"], "--runs needs a value"],
      [
        ["--runs", "many"],
        "--runs must be a whole number of at least 1, not 'many'",
      ],
      [["a.exe", "b.exe"], "one FILE at most, not a.exe and b.exe"],
    ] as const
  ) {
    const r = await benchPe(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `error: ${says}\nrun \`deno task bench-pe --help\` for the usage\n`,
    );
  }
});

Deno.test("bench-pe's table says how many runs in words that fit the count", async () => {
  const { markdown } = await import("./pe_bench.ts");
  const file = { exe: "C:\\x\\deno.exe", size: 2 ** 20 };
  const row = (runs: number): PeBenchRow[] => [
    { task: "read", median: 1, min: 1, runs },
  ];
  assert.match(
    markdown(row(1), file),
    /\(1\.0 MiB\), 1 run after a warm-up:/,
  );
  assert.match(
    markdown(row(11), file),
    /\(1\.0 MiB\), 11 runs after a warm-up:/,
  );
});
