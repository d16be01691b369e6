import assert from "node:assert/strict";
import { bar, barScale, runDemo } from "./demo.ts";
import { CliError } from "../output.ts";

const cells = (s: string) => s.replaceAll(" ", "").length;

Deno.test("throughput bars scale to the run instead of saturating", () => {
  const ucrt = 380_000;
  let full = barScale(0, { ref: ucrt });
  assert.equal(cells(bar(ucrt, full)), 6, "the UCRT reference is a quarter");
  // A run that keeps getting faster, far past 4× the UCRT rate.
  const rates = [1.2e6, 1.5e6, 1.8e6, 3e6, 6e6, 12e6, 25e6, 11e6, 2e6];
  for (const rate of rates) {
    const grown = barScale(full, { rate });
    assert.ok(grown >= full, "the scale never shrinks");
    full = grown;
    assert.ok(rate <= full, `${rate}/s fits the scale (${full})`);
    const n = cells(bar(rate, full));
    assert.equal(n, Math.round(24 * rate / full), `${rate}/s is to scale`);
  }
  // A full bar stands for a round number: 1, 2, 2.5 or 5 × 10^k.
  assert.match(String(full), /^(1|2|25|5)0*$/);
  // At one scale, faster is longer: 1.5 and 3 M ops/s differ.
  const at = barScale(barScale(0, { ref: ucrt }), { rate: 3e6 });
  assert.ok(cells(bar(3e6, at)) > cells(bar(1.5e6, at)));
  assert.equal(bar(0, 0), " ".repeat(24));
});

/** A stand-in for the sample (a shell script: the run is Linux's). */
async function fakeSample(dir: string, body: string): Promise<string> {
  const path = `${dir}/sample.sh`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

const TICK = "tick t=%d ops=1000 rate=2000 live=100 old=100 hooked=0 corrupt=0";

/** runDemo's error for `sample`, in JSON mode (nothing printed). */
async function demoError(sample: string, dll?: string): Promise<string> {
  const opts = { sample, dll, before: 4, after: 6, threads: 2, json: true };
  try {
    await runDemo(opts);
  } catch (e) {
    assert.ok(e instanceof CliError, `a CliError: ${e}`);
    return e.message;
  }
  assert.fail("the demo succeeded");
}

Deno.test({
  name:
    "demo: a sample that dies before the run's end is a failure, not a summary",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // Two ticks, then it dies as a crashed program does (no damage it
      // counted itself), before heapshift was even injected.
      const sample = await fakeSample(
        dir,
        `echo "ready $$"; for t in 500 1000; do printf '${TICK}\\n' $t; done; exit 5`,
      );
      assert.match(await demoError(sample), /ended.*exit code 5/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "demo: a --dll that is not heapshift's is refused before the run",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const sample = await fakeSample(dir, `echo "ready $$"; exec sleep 30`);
      const other = `${dir}/other.dll`;
      await Deno.writeTextFile(other, "MZ not a hook DLL");
      assert.match(
        await demoError(sample, other),
        /other\.dll is not heapshift's hook DLL/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("demo: a --sample that does not exist is named as the user's, not as the sample deno task demo would build", async () => {
  // It said "The sample program is not built (…): run `deno task demo`",
  // to someone who had just run deno task demo --sample with a typo.
  const dir = await Deno.makeTempDir();
  try {
    const message = await demoError(`${dir}/nosuch.exe`);
    assert.match(message, /^No sample program at .*nosuch\.exe \(--sample\)/);
    assert.doesNotMatch(message, /run `deno task demo`/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
