/**
 * Profiles the bench's timed phases on Linux: runs `deno task bench` (its
 * arguments passed through) under `perf record`, then splits the samples by
 * run and symbolizes the hook DLL and the workload from their own COFF
 * symbol tables (Wine relocates the DLL; perf cannot read PE symbols).
 *
 *   deno run -A bench/profile.ts [--top N] [--out DIR] [--annotate FUNC]
 *                                [bench options…]
 *
 * `--annotate FUNC` (a name as the table prints it, e.g. `hs_malloc` or
 * `workload-mimalloc.exe!mi_free`) also prints where in that function the
 * samples fell: offsets and image RVAs, for `objdump -d --start-address`.
 *
 * Needs Linux `perf` on the host (Debian: `apt-get install linux-perf`); it
 * is a developer's tool, not part of `deno task bench` or the tests. The
 * workloads print where the modules are mapped and when their timed phase
 * ran (`HEAPSHIFT_BENCH_MODULES=1`: `module NAME BASE`, `phase T0 T1` in
 * ns of the performance counter, which under Wine is CLOCK_MONOTONIC_RAW,
 * the clock `perf record -k monotonic_raw` stamps samples with). Only
 * samples inside a timed phase count. Prints, per workload and variant,
 * the share of the samples of each function (summed over the reps).
 *
 * @module
 */

import { bytesSource, readExports, readHeaders } from "../pe/mod.ts";
import { repoPath } from "../src/_repo.ts";
import { rootfsDir } from "../tasks/winenv.ts";

interface Run {
  key: string;
  variant: number;
  bases: Map<string, bigint>;
  t0: number;
  t1: number;
}

interface Sym {
  addr: bigint;
  name: string;
}

/** Function symbols of a PE file's COFF table, as offsets in the image. */
export function coffFunctions(bytes: Uint8Array): Sym[] {
  const h = readHeaders(bytesSource(bytes));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const table = h.pointerToSymbolTable;
  const strings = table + 18 * h.numberOfSymbols;
  const out: Sym[] = [];
  const dec = new TextDecoder();
  for (let i = 0; i < h.numberOfSymbols; i++) {
    const o = table + 18 * i;
    const aux = bytes[o + 17];
    const section = dv.getInt16(o + 12, true);
    const type = dv.getUint16(o + 14, true);
    if (section > 0 && (type & 0x30) === 0x20) {
      let name: string;
      if (dv.getUint32(o, true) === 0) {
        const s = strings + dv.getUint32(o + 4, true);
        name = dec.decode(bytes.subarray(s, bytes.indexOf(0, s)));
      } else {
        const raw = bytes.subarray(o, o + 8);
        const end = raw.indexOf(0);
        name = dec.decode(end < 0 ? raw : raw.subarray(0, end));
      }
      const va = h.sections[section - 1].virtualAddress +
        dv.getUint32(o + 8, true);
      out.push({ addr: BigInt(va), name });
    }
    i += aux;
  }
  return out.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

/** A system DLL's exports (Wine's are stripped of other symbols): samples
 * between two exports go to the lower one, so read them as "near". */
export function exportFunctions(bytes: Uint8Array): Sym[] {
  const src = bytesSource(bytes);
  const e = readExports(src, readHeaders(src));
  return (e?.symbols ?? [])
    .filter((x) => x.rva !== 0 && x.name)
    .map((x) => ({ addr: BigInt(x.rva), name: x.name! }))
    .sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

/** The function symbol at or below `addr`, if any. */
function lookup(syms: Sym[], addr: bigint): Sym | null {
  let lo = 0, hi = syms.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (syms[mid].addr <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? syms[lo - 1] : null;
}

/** The runs the harness logged (module bases and timed phases). Only the
 * timed runs: the untimed heap-checked pass that follows them (Wine's
 * checking debug heap) logs its reps under the same names. */
export function parseRuns(log: string): Run[] {
  const runs = new Map<string, Run>();
  const re =
    /\[bench\] (\S+) variant (\d+) rep (\d+) pid \d+: (module (\S+) ([0-9A-Fa-f]+)|phase (\d+) (\d+))/;
  const checked = log.indexOf("[bench] heap-checked pass of");
  const timed = checked < 0 ? log : log.slice(0, checked);
  for (const line of timed.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const id = `${m[1]} v${m[2]} r${m[3]}`;
    const run = runs.get(id) ?? {
      key: `${m[1]} v${m[2]}`,
      variant: Number(m[2]),
      bases: new Map(),
      t0: 0,
      t1: 0,
    };
    runs.set(id, run);
    if (m[5]) run.bases.set(m[5], BigInt(`0x${m[6]}`));
    else {
      run.t0 = Number(m[7]) / 1e9;
      run.t1 = Number(m[8]) / 1e9;
    }
  }
  return [...runs.values()].filter((r) => r.t1 > 0);
}

async function main(args: string[]): Promise<number> {
  let top = 15;
  let annotate: string | null = null;
  let out = repoPath("build/profile");
  const pass: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--top") top = Number(args[++i]);
    else if (args[i] === "--annotate") annotate = args[++i];
    else if (args[i] === "--out") out = args[++i];
    else pass.push(args[i]);
  }
  const perf = await new Deno.Command("perf", { args: ["--version"] })
    .output().catch(() => null);
  if (!perf?.success) {
    console.error(
      "error: Linux perf is needed (Debian: apt-get install linux-perf)",
    );
    return 2;
  }
  await Deno.mkdir(out, { recursive: true });
  const data = `${out}/perf.data`;
  const child = new Deno.Command("perf", {
    args: [
      "record",
      "-k",
      "monotonic_raw",
      "-e",
      "cpu-clock",
      "-F",
      "4000",
      "-o",
      data,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      repoPath("tasks/bench.ts"),
      ...pass,
      // A profiled run is slowed by perf: its tables stay with the profile,
      // out of bench/results/ and the README.
      "--out",
      `${out}/bench`,
    ],
    env: { HEAPSHIFT_BENCH_MODULES: "1" },
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stderr) {
    const s = dec.decode(chunk);
    log += s;
    await Deno.stderr.write(chunk);
  }
  if (!(await child.status).success) return 1;
  const runs = parseRuns(log);
  const images: Record<string, Sym[]> = {};
  for (
    const [name, path] of [
      ["heapshift.dll", "build/heapshift.dll"],
      ["heapshift.dll usable", "build/bench/dll-usable/heapshift.dll"],
      ["heapshift.dll other", "build/bench/dll-other/heapshift.dll"],
      ["workload-ucrt.exe", "build/bench/workload-ucrt.exe"],
      ["workload-mimalloc.exe", "build/bench/workload-mimalloc.exe"],
      [
        "workload-mimalloc-other.exe",
        "build/bench/workload-mimalloc-other.exe",
      ],
    ]
  ) {
    try {
      images[name] = coffFunctions(await Deno.readFile(repoPath(path)));
    } catch { /* not built */ }
  }
  // which build of the DLL a variant loads (bench/harness.ts files())
  const dllOf = (v: number) =>
    v === 6
      ? "heapshift.dll usable"
      : v === 7 || v === 8
      ? "heapshift.dll other"
      : "heapshift.dll";
  const wine = `${rootfsDir()}/usr/lib/x86_64-linux-gnu/wine/x86_64-windows`;
  for (const name of ["ntdll.dll", "ucrtbase.dll", "kernel32.dll"]) {
    try {
      images[name] = exportFunctions(await Deno.readFile(`${wine}/${name}`));
    } catch { /* not there */ }
  }
  const script = await new Deno.Command("perf", {
    args: ["script", "-i", data, "-F", "comm,time,ip,sym,dso"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const counts = new Map<string, Map<string, number>>();
  const totals = new Map<string, number>();
  const perRun = new Map<Run, number>();
  // --annotate: per run key, samples by RVA inside the function
  const hot = new Map<string, Map<bigint, number>>();
  let hotStart = 0n;
  for (const line of dec.decode(script.stdout).split("\n")) {
    const m = /^\s*(workload-\S*)\s+([\d.]+):\s+([0-9a-f]+)\s+(\S*)\s*\((.*)\)/
      .exec(line);
    if (!m) continue;
    const t = Number(m[2]);
    const run = runs.find((r) => r.t0 <= t && t <= r.t1);
    if (!run) continue;
    const ip = BigInt(`0x${m[3]}`);
    const dso = m[5].replace(/^.*\//, "");
    let name = dso === "[kernel.kallsyms]" ? `kernel!${m[4]}` : `[${dso}]`;
    // the module mapped highest below the sample (within 16 MiB of it)
    let best: [string, bigint] | null = null;
    for (const [image, base] of run.bases) {
      if (base && base <= ip && ip - base < 0x1000000n && images[image]) {
        if (!best || base > best[1]) best = [image, base];
      }
    }
    if (best) {
      const image = best[0] === "heapshift.dll" ? dllOf(run.variant) : best[0];
      const sym = lookup(images[image] ?? images[best[0]], ip - best[1]);
      name = sym?.name ?? "?";
      if (best[0] !== "heapshift.dll") name = `${best[0]}!${name}`;
      if (sym && name === annotate) {
        const h = hot.get(run.key) ?? new Map<bigint, number>();
        hot.set(run.key, h);
        const rva = ip - best[1];
        h.set(rva, (h.get(rva) ?? 0) + 1);
        hotStart = sym.addr;
      }
    }
    const c = counts.get(run.key) ?? new Map<string, number>();
    counts.set(run.key, c);
    c.set(name, (c.get(name) ?? 0) + 1);
    totals.set(run.key, (totals.get(run.key) ?? 0) + 1);
    perRun.set(run, (perRun.get(run) ?? 0) + 1);
  }
  for (const [key, c] of [...counts].sort()) {
    const total = totals.get(key)!;
    // CPU time of each timed phase, from its samples (4000 per second)
    const cpu = runs.filter((r) => r.key === key)
      .map((r) => (perRun.get(r) ?? 0) / 4).sort((a, b) => a - b);
    console.log(
      `\n${key}: ${total} samples in the timed phases; CPU ms per run: ${
        cpu.join(" ")
      } (median ${cpu[cpu.length >> 1]})`,
    );
    const h = hot.get(key);
    if (h) {
      console.log(`  ${annotate}: samples by instruction (rva, +offset)`);
      for (const [rva, n] of [...h].sort((a, b) => b[1] - a[1]).slice(0, top)) {
        console.log(
          `    0x${rva.toString(16)} +0x${(rva - hotStart).toString(16)}  ${n}`,
        );
      }
    }
    for (const [name, n] of [...c].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(
        `  ${(100 * n / total).toFixed(1).padStart(5)}%  ${
          n
            .toString().padStart(6)
        }  ${name}`,
      );
    }
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
