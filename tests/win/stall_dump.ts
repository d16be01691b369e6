// What a fixture that stopped moving is doing, for the failure message.
// Under Wine every Windows thread is a Linux thread, and /proc (seen
// through Wine's Z: drive) tells where each one waits without a thread in
// the stuck process: a debugger needs one, and a process stuck while a
// thread holds the loader lock cannot start it.

/** Modules whose mappings let a dump's program counters be placed. */
const MODULES = /ntdll|kernelbase|kernel32|ucrtbase|heapshift|win32u|\.exe/i;

async function read(path: string): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch {
    return "?";
  }
}

/** The Linux pids whose command name is `exe` (truncated as Linux does). */
async function pidsNamed(proc: string, exe: string): Promise<string[]> {
  const comm = exe.slice(0, 15);
  const pids: string[] = [];
  for await (const e of Deno.readDir(proc)) {
    if (!/^\d+$/.test(e.name)) continue;
    if (await read(`${proc}\\${e.name}\\comm`) === comm) pids.push(e.name);
  }
  return pids;
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

/** The values on a thread's stack from `sp` up that point into code:
 * return addresses, most of them, innermost first (up to 32 KiB, and 24
 * of them). */
async function stackCode(
  mem: string,
  maps: Mapping[],
  sp: number,
): Promise<string[]> {
  const region = maps.find((m) => sp >= m.start && sp < m.end);
  if (!region) return [];
  const n = Math.min(32 * 1024, region.end - sp) & ~7;
  const buf = new Uint8Array(n);
  try {
    using f = await Deno.open(mem);
    await f.seek(sp, Deno.SeekMode.Start);
    let got = 0;
    while (got < n) {
      const r = await f.read(buf.subarray(got));
      if (r === null || r === 0) break;
      got += r;
    }
    const view = new DataView(buf.buffer, 0, got & ~7);
    const found: string[] = [];
    for (let i = 0; i < view.byteLength && found.length < 24; i += 8) {
      const at = place(maps, Number(view.getBigUint64(i, true)));
      if (at) found.push(at);
    }
    return found;
  } catch {
    return [];
  }
}

async function dumpProcess(proc: string, pid: string): Promise<string> {
  const out = [`process ${pid}:`];
  const maps = parseMaps(await read(`${proc}\\${pid}\\maps`));
  const tasks: string[] = [];
  try {
    for await (const t of Deno.readDir(`${proc}\\${pid}\\task`)) {
      tasks.push(t.name);
    }
  } catch {
    return `process ${pid}: gone`;
  }
  for (const tid of tasks.sort((a, b) => Number(a) - Number(b))) {
    const dir = `${proc}\\${pid}\\task\\${tid}`;
    const state = /^State:\s*(.*)$/m.exec(await read(`${dir}\\status`));
    out.push(
      `  task ${tid} ${await read(`${dir}\\comm`)} state=${
        state?.[1] ?? "?"
      } wchan=${await read(`${dir}\\wchan`)} syscall=${await read(
        `${dir}\\syscall`,
      )}`,
    );
    const stack = await read(`${dir}\\stack`);
    if (stack !== "?" && stack !== "") {
      out.push(...stack.split("\n").slice(0, 6).map((l) => `    ${l}`));
    }
    // "nr args… sp pc" while in a syscall
    const sp = (await read(`${dir}\\syscall`)).split(" ").at(-2);
    if (sp?.startsWith("0x")) {
      const code = await stackCode(`${proc}\\${pid}\\mem`, maps, Number(sp));
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
  return out.join("\n");
}

async function dumpAll(proc: string, exe: string): Promise<string> {
  try {
    const pids = await pidsNamed(proc, exe);
    const dumps = await Promise.all(pids.map((p) => dumpProcess(proc, p)));
    return dumps.join("\n");
  } catch {
    return "";
  }
}

/**
 * Under Wine, each Linux thread of the processes named `exe` (state, kernel
 * wait channel, current syscall with its stack and program counters, the
 * kernel stack) and where the main modules' code is mapped; "" where there
 * is no /proc to read (Windows), no such process, or no answer within
 * `timeoutMs`.
 */
export async function stallDump(
  exe: string,
  options: { timeoutMs: number },
): Promise<string> {
  const proc = "Z:\\proc";
  if (Deno.build.os !== "windows" || Deno.env.get("WINEPREFIX") === undefined) {
    return "";
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((r) => {
    timer = setTimeout(() => r(""), options.timeoutMs);
  });
  try {
    return await Promise.race([dumpAll(proc, exe), late]);
  } finally {
    clearTimeout(timer);
  }
}
