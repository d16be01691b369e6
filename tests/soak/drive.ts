// The soak's driver (tests/soak/README.md), run by the Windows Deno under
// Wine from the checkout's root:
//   windeno run -A tests/soak/drive.ts ARCH SECONDS WORKERS DELAY_MS [api]
// Starts build/soak/soak(32).exe (SOAK_EXE: another; SOAK_EXTRA: its
// third argument), injects heapshift (SOAK_DLL_DIR: the hook DLLs' folder,
// default build) DELAY_MS after its ready line (`never`: not at all)
// through the CLI (`api`: through mod.ts's inject, at once),
// polls stats() every second (no counter goes back or below 0; frees of
// old blocks never exceed frees, nor migrations those), injects again (must
// say it is loaded already), tries eject (must be refused) and CLI stats,
// and checks the program's results. Exit 1 listing the problems, if any.
import { inject, stats } from "../../mod.ts";
import { readLines } from "../../src/_lines.ts";

const [arch, secs, workers, delayArg, quick] = Deno.args;
const exe = Deno.env.get("SOAK_EXE") ||
  (arch === "x86" ? "build\\soak\\soak32.exe" : "build\\soak\\soak.exe");
const extra = Deno.env.get("SOAK_EXTRA");
const problems: string[] = [];
const log = (s: string) => console.log(`[drive ${arch}] ${s}`);

async function cli(args: string[]) {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    out: dec.decode(out.stdout).trim(),
    err: dec.decode(out.stderr).trim(),
    ms: Math.round(performance.now() - t0),
  };
}

const child = new Deno.Command(exe, {
  args: [secs, workers, ...(extra ? [extra] : [])],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const lines = readLines(child.stdout);
const first = await lines.next();
const pid = Number(/^ready (\d+)/.exec(first.value ?? "")?.[1]);
if (!pid) throw new Error(`no ready line: ${first.value}`);
const startedAt = performance.now();
const all: string[] = [];
const reading = (async () => {
  for (;;) {
    const l = await lines.next();
    if (l.done) break;
    all.push(l.value);
    if (l.value.startsWith("tick") && !quick) {
      const t = Number(/ t=(\d+)/.exec(l.value)?.[1]);
      if (t % 10 === 0) log(l.value);
    }
  }
})();

const delay = delayArg === "never" ? 0 : Number(delayArg);
await new Promise((r) => setTimeout(r, delay));
// SOAK_DLL_DIR: another build's directory (deno task build-dll --out-dir)
const dll = `${Deno.cwd()}\\${
  (Deno.env.get("SOAK_DLL_DIR") || "build").replaceAll("/", "\\")
}\\${arch === "x86" ? "heapshift32.dll" : "heapshift.dll"}`;
const inj = delayArg === "never"
  ? { code: 2, out: "not injected", err: "", ms: 0 }
  : quick === "api"
  ? await (async () => {
    const t0 = performance.now();
    try {
      const m = await inject(pid, dll);
      return {
        code: 0,
        out: `api ${m.name} ${m.base}`,
        err: "",
        ms: Math.round(performance.now() - t0),
      };
    } catch (e) {
      return {
        code: 1,
        out: "",
        err: String(e),
        ms: Math.round(performance.now() - t0),
      };
    }
  })()
  : await cli(["inject", String(pid), "--json", "--dll", dll]);
log(
  `inject after ${
    Math.round(performance.now() - startedAt)
  } ms: code ${inj.code} (${inj.ms} ms) ${inj.out.slice(0, 300)} ${inj.err}`,
);
if (inj.code === 1) problems.push(`inject failed: ${inj.err}`);

let prev: Record<string, number> | null = null;
let samples = 0;
let lastStats: unknown = null;
const poll = async () => {
  try {
    const s = stats(pid);
    const c = s.counters as unknown as Record<string, number>;
    lastStats = s;
    samples++;
    if (s.state !== "live") problems.push(`state ${s.state} ${s.reason}`);
    if (prev) {
      for (const k of Object.keys(c)) {
        if (c[k] < prev[k]) {
          problems.push(`counter ${k} went back: ${prev[k]} -> ${c[k]}`);
        }
      }
    }
    for (const k of Object.keys(c)) {
      if (c[k] < 0) problems.push(`counter ${k} negative: ${c[k]}`);
    }
    if (c.freesOld > c.frees) {
      problems.push(`freesOld ${c.freesOld} > frees ${c.frees}`);
    }
    if (c.migrations > c.freesOld) {
      problems.push(`migrations ${c.migrations} > freesOld ${c.freesOld}`);
    }
    // mimalloc frees (frees - freesOld) vs allocations: counters of other
    // threads may be published late, so only a large excess is flagged
    const mfrees = c.frees - c.freesOld;
    if (mfrees > c.allocs + 100_000) {
      problems.push(`mimalloc frees ${mfrees} > allocs ${c.allocs}`);
    }
    prev = { ...c };
  } catch (e) {
    if (!(await childEnded())) problems.push(`stats: ${e}`);
  }
};
let ended = false;
const status = child.status.then((s) => {
  ended = true;
  return s;
});
const childEnded = async () => {
  await new Promise((r) => setTimeout(r, 50));
  return ended;
};

if (inj.code === 0) {
  await poll();
  const again = await cli(["inject", String(pid), "--dll", dll]);
  log(`inject again: code ${again.code} ${again.out} ${again.err}`);
  if (again.code !== 0 || !/already/.test(again.out + again.err)) {
    problems.push(`second inject: ${again.code} ${again.out} ${again.err}`);
  }
  const ej = await cli([
    "eject",
    String(pid),
    arch === "x86" ? "heapshift32.dll" : "heapshift.dll",
  ]);
  log(`eject: code ${ej.code} ${ej.out} ${ej.err}`);
  if (ej.code === 0) problems.push(`eject succeeded: ${ej.out}`);
  const st = await cli(["stats", String(pid)]);
  log(`cli stats: code ${st.code}\n${st.out}\n${st.err}`);
  // (a short run may have ended meanwhile: the CLI starts slowly under Wine)
  if (st.code !== 0 && !ended) problems.push(`cli stats failed: ${st.err}`);
}
while (!ended) {
  if (inj.code === 0) await poll();
  await new Promise((r) => setTimeout(r, 1000));
}
const code = (await status).code;
await reading;
const results = all.filter((l) => !l.startsWith("tick"));
log(
  `exit ${code}; samples ${samples}; last counters ${
    JSON.stringify((lastStats as { counters?: unknown })?.counters)
  }`,
);
log(results.join(" "));
const val = (k: string) =>
  Number(results.find((l) => l.startsWith(k + "="))?.slice(k.length + 1));
if (code !== 0) problems.push(`exit code ${code}`);
if (results.at(-1) !== "done") problems.push("no done line");
for (
  const k of [
    "pattern_bad",
    "msize_bad",
    "align_bad",
    "zero_bad",
    "failed_frees",
    "strdup_bad",
    "file_bad",
  ]
) {
  if (val(k) !== 0) problems.push(`${k}=${val(k)}`);
}
if (val("threads_failed_create") !== 0) {
  problems.push(`threads_failed_create=${val("threads_failed_create")}`);
}
if (inj.code === 0 && val("owns_found") !== 1) problems.push("owns not found");
log(problems.length ? `PROBLEMS:\n${problems.join("\n")}` : "CLEAN");
Deno.exit(problems.length ? 1 : 0);
