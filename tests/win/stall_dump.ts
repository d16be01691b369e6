// What a fixture that stopped moving is doing, for the failure message.
// Under Wine every Windows thread is a Linux thread, and /proc (seen
// through Wine's Z: drive) tells where each one waits without a thread in
// the stuck process: a debugger needs one, and a process stuck while a
// thread holds the loader lock cannot start it.
//
// Synchronous on purpose: it runs in runFixture's timeout, which must kill
// the fixture in the same turn, and leaves no read pending for Deno's test
// sanitizers to pin on a later test. What it cannot see: the stack words
// need ptrace access to the process (root here, or Yama's ptrace_scope 0),
// and Wine runs syscalls on a stack of its own, so the Windows frames show
// only where Wine saved them there.

/** Modules whose mappings let a dump's program counters be placed. */
const MODULES = /ntdll|kernelbase|kernel32|ucrtbase|heapshift|win32u|\.exe/i;

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return "?";
  }
}

interface Mapping {
  start: number;
  end: number;
  offset: number;
  code: boolean;
  name: string;
}

function parseMaps(text: string): Mapping[] {
  const maps: Mapping[] = [];
  for (const l of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)$/
      .exec(l);
    if (!m) continue;
    maps.push({
      start: parseInt(m[1], 16),
      end: parseInt(m[2], 16),
      offset: parseInt(m[4], 16),
      code: m[3].startsWith("r-x"),
      name: m[5].replace(/^.*\//, ""),
    });
  }
  return maps;
}

/** Where a code address lies: module+offset in the file (a builtin PE's
 * file offset is its RVA), or the start of an unnamed code mapping (an
 * image Wine read into memory). */
function place(maps: Mapping[], v: number): string | null {
  const m = maps.find((m) => m.code && v >= m.start && v < m.end);
  if (!m) return null;
  const off = (v - m.start + m.offset).toString(16);
  return m.name
    ? `${m.name}+0x${off}`
    : `anon@${m.start.toString(16)}+0x${(v - m.start).toString(16)}`;
}

/** The words on a thread's stack from `sp` up that point into code:
 * return addresses, most of them, innermost first (up to 32 KiB, and 24
 * of them). A 32-bit process (old-style WoW64: every mapping below 4 GiB)
 * has 4-byte words. */
function stackCode(mem: string, maps: Mapping[], sp: number): string[] {
  const region = maps.find((m) => sp >= m.start && sp < m.end);
  if (!region) return [];
  const word = maps.every((m) => m.end <= 2 ** 32) ? 4 : 8;
  const n = Math.min(32 * 1024, region.end - sp) & ~7;
  const buf = new Uint8Array(n);
  let got = 0;
  try {
    using f = Deno.openSync(mem);
    f.seekSync(sp, Deno.SeekMode.Start);
    while (got < n) {
      const r = f.readSync(buf.subarray(got));
      if (r === null || r === 0) break;
      got += r;
    }
  } catch {
    if (got === 0) return [];
  }
  const view = new DataView(buf.buffer, 0, got - (got % word));
  const found: string[] = [];
  for (let i = 0; i < view.byteLength && found.length < 24; i += word) {
    const v = word === 4
      ? view.getUint32(i, true)
      : Number(view.getBigUint64(i, true));
    const at = place(maps, v);
    if (at) found.push(at);
  }
  return found;
}

/** `deadline` (ms since the epoch): stops reading there, keeping what it has. */
function dumpProcess(dir: string, deadline: number): string[] {
  const out: string[] = [];
  const maps = parseMaps(read(`${dir}\\maps`));
  let tasks: string[] = [];
  try {
    tasks = [...Deno.readDirSync(`${dir}\\task`)].map((t) => t.name);
  } catch {
    return ["  gone"];
  }
  for (const tid of tasks.sort((a, b) => Number(a) - Number(b))) {
    if (Date.now() > deadline) {
      out.push("  (out of time)");
      break;
    }
    const t = `${dir}\\task\\${tid}`;
    const state = /^State:\s*(.*)$/m.exec(read(`${t}\\status`));
    const syscall = read(`${t}\\syscall`);
    out.push(
      `  task ${tid} ${read(`${t}\\comm`)} state=${state?.[1] ?? "?"} wchan=${
        read(`${t}\\wchan`)
      } syscall=${syscall}`,
    );
    const stack = read(`${t}\\stack`);
    if (stack !== "?" && stack !== "") {
      out.push(...stack.split("\n").slice(0, 6).map((l) => `    ${l}`));
    }
    // "nr args… sp pc" while in a syscall
    const sp = syscall.split(" ").at(-2);
    if (sp?.startsWith("0x")) {
      const code = stackCode(`${dir}\\mem`, maps, Number(sp));
      if (code.length) out.push(`    stack: ${code.join(" ")}`);
    }
  }
  out.push(
    "  code mappings:",
    ...maps.filter((m) => m.code && (!m.name || MODULES.test(m.name))).map(
      (m) =>
        `    ${m.start.toString(16)}-${m.end.toString(16)} +0x${
          m.offset.toString(16)
        } ${m.name || "(unnamed)"}`,
    ),
  );
  return out;
}

/** When process `dir` started (ms since the epoch), or NaN. */
function startedAt(proc: string, dir: string): number {
  const boot = /^btime (\d+)$/m.exec(read(`${proc}\\stat`))?.[1];
  // stat's field 22 (after the parenthesised name): clock ticks since boot,
  // 100 a second on Linux
  const ticks = read(`${dir}\\stat`).replace(/^.*\) /s, "").split(" ")[19];
  return Number(boot) * 1000 + Number(ticks) * 10;
}

/**
 * Under Wine, each Linux thread of the fixture (state, kernel wait channel,
 * current syscall with its stack and program counters, the kernel stack,
 * the code addresses on its stack) and where the main modules' code is
 * mapped; "" where there is no /proc to read (Windows) or no such process.
 * The fixture is a process named `exe` that started at `startedAfter` (ms
 * since the epoch) or later, so a leftover of an earlier run is not taken
 * for it. Stops reading after `timeoutMs`.
 */
export function stallDump(
  exe: string,
  options: { startedAfter: number; timeoutMs: number },
): string {
  const proc = "Z:\\proc";
  if (Deno.build.os !== "windows" || Deno.env.get("WINEPREFIX") === undefined) {
    return "";
  }
  const deadline = Date.now() + options.timeoutMs;
  try {
    const comm = exe.slice(0, 15); // Linux truncates it so
    const out: string[] = [];
    for (const e of Deno.readDirSync(proc)) {
      const dir = `${proc}\\${e.name}`;
      if (!/^\d+$/.test(e.name) || read(`${dir}\\comm`) !== comm) continue;
      if (!(startedAt(proc, dir) >= options.startedAfter)) continue;
      out.push(`process ${e.name}:`, ...dumpProcess(dir, deadline));
    }
    return out.join("\n");
  } catch {
    return "";
  }
}
