// The CLI end to end on Windows (natively or under Wine): every command run
// as a user runs it (`deno run -A cli.ts …`) against real fixture
// processes, with --json output parsed back and bad arguments checked.
import { withKeptFile } from "./kept_file.ts";
import { assert, assertEquals } from "./assert.ts";
import {
  createdSuspended,
  fixture,
  hookDll,
  readLines,
  repoPath,
  runFixture,
  startTarget,
  test,
  testArches,
  uniqueCopy,
} from "./harness.ts";
import { slowMark, untilGone } from "./slow_mark.ts";
import { waitingInject } from "./waiting_inject.ts";
import { type CliRun, runCli as cli } from "../../cli/_test_utils.ts";
import {
  FILE_ATTRIBUTE,
  getFileAttributes,
  openProcess,
  PROCESS,
  resumeThread,
  terminateProcess,
} from "../../ffi/mod.ts";
import { regValues, valueNamed } from "../../cli/registry.ts";

const CLI = repoPath("cli.ts");

async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const r = await cli([...args, "--json"]);
  assertEquals(r.code, 0, `${args.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function oneLineError(
  r: CliRun,
  code: number,
  pattern: RegExp,
  what: string,
): void {
  assertEquals(r.code, code, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  assert(
    /^error: /.test(r.stderr),
    `${what}: stderr starts with "error:": ${r.stderr}`,
  );
  assert(pattern.test(r.stderr), `${what}: ${r.stderr} matches ${pattern}`);
}

interface Mod {
  name: string;
  path: string;
  base: string;
  size: number;
}

test("cli: help, version and usage errors (exit 2)", async () => {
  const help = await cli(["--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("inject") && help.stdout.includes("Examples:"));
  const version = await cli(["--version"]);
  assertEquals(version.code, 0);
  assert(/^\d+\.\d+\.\d+/.test(version.stdout));
  oneLineError(
    await cli(["inject"]),
    2,
    /missing required argument/,
    "inject without target",
  );
  oneLineError(
    await cli(["modules", "0"]),
    2,
    /process id/,
    "modules 0",
  );
  oneLineError(
    await cli(["frobnicate"]),
    2,
    /unknown command/,
    "unknown command",
  );
  oneLineError(
    await cli(["stats", "1", "--interval", "x"]),
    2,
    /seconds/,
    "bad interval",
  );
  // --wait takes an optional value: written before the target, it takes
  // the target for its seconds
  oneLineError(
    await cli(["inject", "--wait", "game.exe"]),
    2,
    /^error: option '--wait \[seconds\]' argument 'game\.exe' is invalid\. expected a number of seconds > 0 \(to wait the default 60 s for game\.exe, put --wait after it: inject game\.exe --wait\)\n/,
    "inject --wait before the target",
  );
  // patch's --dll is the name the program imports, where inject's and
  // launch's is a path: a path given to patch says so
  oneLineError(
    await cli(["patch", "x.exe", "--dll", "build\\heapshift.dll"]),
    2,
    /^error: --dll: invalid DLL name "build\\\\heapshift\.dll": patch's --dll is the file name the program is to import, not a path \(Windows looks for it next to the program\): --dll heapshift\.dll, then copy the DLL there\n/,
    "patch --dll PATH",
  );
  // --prefix names the Wine prefix a game runs in, on Linux: on Windows it
  // was ignored, and Special K looked for in the registry instead
  oneLineError(
    await cli(["specialk", "--prefix", "C:\\pfx", "--dll", hookDll()]),
    2,
    /^error: --prefix is for Linux \(the Wine or Proton prefix a game runs in\); on Windows Special K is found from its install: leave --prefix out, or pass --sk-dir DIR or --ini PATH\n/,
    "specialk --prefix on Windows",
  );
});

test("cli: an output file named with a ':' after the drive (an NTFS alternate data stream) is refused, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const exe = `${dir}\\game.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), exe);
    oneLineError(
      await cli(["patch", exe, "-o", `${dir}\\bad:name.exe`]),
      2,
      /^error: --out .*\\bad:name\.exe: the ':' makes it a stream of .*\\bad \(an NTFS alternate data stream\), not a file of that name: choose a name without ':'\n$/,
      "patch -o bad:name.exe",
    );
    const stream = `${dir}\\game.exe:x.exe`;
    oneLineError(
      await cli(["patch", stream, "--inplace"]),
      2,
      /^error: patch .*\\game\.exe:x\.exe: the ':' makes it a stream of .*\\game\.exe \(an NTFS alternate data stream\), not a file of that name: copy the program to a file of its own and patch that/,
      "patch --inplace of a stream",
    );
    oneLineError(
      await cli(["specialk", "--ini", `${dir}\\a:b.ini`, "--create"]),
      2,
      /^error: --ini .*\\a:b\.ini: the ':' makes it a stream of .*\\a /,
      "specialk --ini a:b.ini",
    );
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assertEquals(left, ["game.exe"]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("cli: an output file named as Windows will not name it (a trailing '.' or ' ', a device such as NUL or CON.exe) is refused, nothing written", async () => {
  await withKeptFile(async ({ dir, exe }) => {
    const wrong: string[] = [];
    for (
      const [out, pattern] of [
        [
          `${dir}\\new.exe.`,
          /Windows drops the '\.' and spaces that end a file name: it would be named .*\\new\.exe, not .*\\new\.exe\.: choose a name that ends in neither/,
        ],
        [
          `${dir}\\new.exe `,
          /Windows drops the '\.' and spaces that end a file name: it would be named .*\\new\.exe, not .*\\new\.exe : choose a name that ends in neither/,
        ],
        [`${dir}\\keep.exe.`, /it would be named .*\\keep\.exe, not/],
        [
          `${dir}\\NUL`,
          /NUL is a device on Windows \(CON, PRN, AUX, NUL, COM1 to COM9, LPT1 to LPT9; before Windows 11 with any extension too\), not a file: choose another name/,
        ],
        [`${dir}\\con.exe`, /con\.exe is a device on Windows/],
        [
          `${dir}\\Lpt1.patched.exe`,
          /Lpt1\.patched\.exe is a device on Windows/,
        ],
      ] as const
    ) {
      for (const force of [[], ["--force"]]) {
        const r = await cli(["patch", exe, "-o", out, ...force]);
        const ok = r.code === 2 && /^error: --out [^\n]*\n$/.test(r.stderr) &&
          pattern.test(r.stderr);
        if (!ok) {
          wrong.push(
            `-o ${out} ${force}: exit ${r.code} ${r.stdout}${r.stderr}`,
          );
        }
      }
    }
    assertEquals(wrong, []);
  });
});

test("cli: patch refuses a copy or backup named from the program's name too long to write through its temporary file, nothing written; a character shorter is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // a program whose name is `length` characters
    const program = async (length: number) => {
      const exe = `${dir}\\${"g".repeat(length - 4)}.exe`;
      await Deno.copyFile(fixture("sleeper.exe"), exe);
      return exe;
    };
    const why =
      /its name is 242 characters, and the temporary file it is written through is named 14 longer, over the 255 a file name may have/;
    const long = await program(232);
    oneLineError(
      await cli(["patch", long]),
      2,
      new RegExp(
        `^error: patch: the copy .*\\\\g{228}\\.heapshift\\.exe: ${why.source}: name it with --out PATH, at most 241 characters\n$`,
      ),
      "patch of a program whose copy's name is too long",
    );
    const kept = await program(238);
    oneLineError(
      await cli(["patch", kept, "--inplace"]),
      2,
      new RegExp(
        `^error: patch --inplace: the backup .*\\\\g{234}\\.exe\\.bak: ${why.source}: patch a copy with --out PATH instead, at most 241 characters\n$`,
      ),
      "patch --inplace of a program whose backup's name is too long",
    );
    const names = () => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(
      names(),
      [long, kept].map((p) => p.slice(dir.length + 1)).sort(),
    );
    // a character shorter: written, the copy's temporary file 255 long
    const shorter = await program(231);
    const r = await cli(["patch", shorter]);
    assertEquals(r.code, 0, r.stderr);
    assert(
      names().includes(`${"g".repeat(227)}.heapshift.exe`),
      `the copy is written: ${names().join(" ")}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("cli: ps and modules show control characters in a process's name and path escaped (a file name may hold C1 controls, which some terminals act on)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const exe = `${dir}\\ctl\u009b2J.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), exe);
    await using t = await startTarget(exe);
    const ps = await cli(["ps"]);
    assertEquals(ps.code, 0, ps.stderr);
    assert(!/[\x80-\x9f]/.test(ps.stdout), ps.stdout);
    assert(
      new RegExp(`\\b${t.pid}\\b.*ctl\\\\x9b2J\\.exe`).test(ps.stdout),
      ps.stdout,
    );
    const mods = await cli(["modules", String(t.pid)]);
    assertEquals(mods.code, 0, mods.stderr);
    assert(!/[\x80-\x9f]/.test(mods.stdout), mods.stdout);
    assert(
      /ctl\\x9b2J\.exe\s.*ctl\\x9b2J\.exe$/m.test(mods.stdout),
      mods.stdout,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("cli: inject and eject show a process's and a module's name escaped: U+202E (which shows what follows backwards) and other format characters, in --json too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const name = "ctl\u202eexe.gnp\u200b.exe";
    const exe = `${dir}\\${name}`;
    await Deno.copyFile(fixture("sleeper.exe"), exe);
    const probe = "pr\u202eobe.dll";
    await Deno.copyFile(fixture("probe.dll"), `${dir}\\${probe}`);
    await using t = await startTarget(exe);
    const unsafe = /[\u200b\u202e]/;
    const human = await cli(["inject", name, "--dll", `${dir}\\${probe}`]);
    assertEquals(human.code, 0, human.stderr);
    assert(!unsafe.test(human.stdout + human.stderr), human.stdout);
    assert(
      /^injected pr\\u202eobe\.dll into ctl\\u202eexe\.gnp\\u200b\.exe \(pid \d+\)$/m
        .test(human.stdout),
      human.stdout,
    );
    assert(/dll\s+.*\\pr\\u202eobe\.dll$/m.test(human.stdout), human.stdout);
    const again = await cli([
      "inject",
      String(t.pid),
      "--dll",
      `${dir}\\${probe}`,
      "--json",
    ]);
    assertEquals(again.code, 0, again.stderr);
    assert(!unsafe.test(again.stdout), again.stdout);
    const j = JSON.parse(again.stdout) as { process: string; module: Mod };
    assertEquals([j.process, j.module.name], [name, probe]);
    const ej = await cli(["eject", String(t.pid), probe]);
    assertEquals(ej.code, 0, ej.stderr);
    assertEquals(ej.stdout, `ejected pr\\u202eobe.dll from pid ${t.pid}\n`);
    oneLineError(
      await cli(["eject", String(t.pid), probe]),
      1,
      /no module pr\\u202eobe\.dll/,
      "eject twice",
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("cli: ps leaves out the CLI's own process, as every command that takes a process name does", async () => {
  // The CLI is this test's child: listed, it would be a deno.exe whose
  // parent is this process.
  const own = (list: { name: string; parentPid: number }[]) =>
    list.filter((p) => p.parentPid === Deno.pid);
  const all = await json<{ name: string; parentPid: number }[]>(["ps"]);
  assertEquals(own(all), []);
  const deno = await cli(["ps", "deno.exe", "--json"]);
  const named = JSON.parse(deno.stdout) as typeof all;
  assertEquals(own(named), []);
  assertEquals(deno.code, named.length ? 0 : 1, deno.stderr);
});

test("cli: ps and modules list a running fixture (--json parsed back)", async () => {
  await using t = await startTarget(fixture("sleeper.exe"));
  const ps = await json<{ pid: number; name: string; parentPid: number }[]>([
    "ps",
  ]);
  const me = ps.find((p) => p.pid === t.pid);
  assert(me, "ps lists the fixture");
  assertEquals(me.name.toLowerCase(), "sleeper.exe");
  const named = await json<{ pid: number }[]>(["ps", "sleeper.exe"]);
  assert(named.some((p) => p.pid === t.pid));
  const human = await cli(["ps", "sleeper"]);
  assertEquals(human.code, 0);
  assert(/PID\s+PPID\s+THREADS\s+NAME/.test(human.stdout), human.stdout);
  assert(new RegExp(`\\b${t.pid}\\b.*sleeper\\.exe`, "i").test(human.stdout));
  oneLineError(
    await cli(["ps", "no_such_program_xyz.exe"]),
    1,
    /No process named/,
    "ps none",
  );
  // --json: `[]` on stdout, and the same exit code
  const noneJson = await cli(["ps", "no_such_program_xyz.exe", "--json"]);
  assertEquals([noneJson.code, JSON.parse(noneJson.stdout)], [1, []]);
  oneLineError(noneJson, 1, /No process named/, "ps none --json");

  const mods = await json<Mod[]>(["modules", String(t.pid)]);
  assert(mods.some((m) => m.name.toLowerCase() === "sleeper.exe"));
  assert(mods.some((m) => m.name.toLowerCase() === "kernel32.dll"));
  assert(mods.every((m) => /^0x[0-9a-f]+$/.test(m.base) && m.size > 0));
  const text = await cli(["modules", String(t.pid)]);
  assert(/BASE\s+SIZE\s+NAME\s+PATH/.test(text.stdout));
  oneLineError(
    await cli(["modules", "4000000000"]),
    1,
    /no such process/i,
    "modules bad pid",
  );
  oneLineError(
    await cli(["inject", "4000000000"]),
    1,
    /^error: No process 4000000000 is running/,
    "inject bad pid",
  );
});

test("cli: inject fails, saying why, when heapshift loads but does not take over", async () => {
  // A thread that never leaves a patch site (test fault): the DLL loads,
  // and refuses to patch.
  await using busy = await startTarget(fixture("sleeper.exe"), {
    env: { HEAPSHIFT_TEST_FAULTS: "busy" },
  });
  const failed =
    /heapshift\.dll is loaded in sleeper\.exe \(pid \d+\) but did not take over \(thread-in-site: a thread stayed inside a function to be patched\)/;
  const r = await cli(["inject", String(busy.pid)]);
  oneLineError(r, 1, failed, "inject, takeover failed");
  assert(
    r.stderr.includes(`this may pass: \`inject ${busy.pid}\` tries again`),
    r.stderr,
  );
  // Again: the DLL is there already, tries once more, and is still not
  // live (the thread never leaves).
  const again = await cli(["inject", String(busy.pid), "--json"]);
  oneLineError(again, 1, failed, "inject again");
  assertEquals(again.stdout, "");

  // A reason that does not pass (test fault: the sites' bytes changed
  // under the installer, as another tool's hook would): restart, not retry.
  await using hooked = await startTarget(fixture("sleeper.exe"), {
    env: { HEAPSHIFT_TEST_FAULTS: "site-changed" },
  });
  const foreign =
    /did not take over \(foreign-hook: another tool hooks the CRT's allocator already\)\. .*\(restart it to try again; `stats \d+` shows more\)/;
  oneLineError(
    await cli(["inject", String(hooked.pid)]),
    1,
    foreign,
    "inject, foreign hook",
  );
  oneLineError(
    await cli(["inject", String(hooked.pid)]),
    1,
    foreign,
    "inject again, foreign hook",
  );

  // Arbitrary Code Guard (test fault: VirtualProtect refused with 1655):
  // named, and no restart advised, which would meet the same guard.
  await using guarded = await startTarget(fixture("sleeper.exe"), {
    env: { HEAPSHIFT_TEST_FAULTS: "protect" },
  });
  const acg = await cli(["inject", String(guarded.pid)]);
  oneLineError(
    acg,
    1,
    /did not take over \(protect: the program forbids changes to its code \(Arbitrary Code Guard, error 1655\)\)\. .*\(restarting it does not lift that: .*`launch` it with heapshift or `patch` its imports/,
    "inject, Arbitrary Code Guard",
  );
  assert(!acg.stderr.includes("restart it to try again"), acg.stderr);

  // No TLS index left for heapshift's own TLS (its first need): said as
  // every other refusal, not as a DLL whose state cannot be read.
  await using full = await startTarget(fixture("sleeper.exe"), {
    args: ["tls-full"],
  });
  const tls = await cli(["inject", String(full.pid)]);
  oneLineError(
    tls,
    1,
    /heapshift\.dll is loaded in sleeper\.exe \(pid \d+\) but did not take over \(tls: no thread-local storage slot was left\)/,
    "inject, no TLS index left",
  );
  assert(!tls.stderr.includes("inject or launch it"), tls.stderr);

  await using off = await startTarget(fixture("sleeper.exe"), {
    env: { HEAPSHIFT_DISABLE: "1" },
  });
  oneLineError(
    await cli(["inject", String(off.pid)]),
    1,
    /heapshift\.dll is loaded in sleeper\.exe \(pid \d+\) but disabled: HEAPSHIFT_DISABLE is set in the program's environment/,
    "inject, disabled",
  );
});

test("cli: inject by pid, then eject (probe.dll)", async () => {
  await using t = await startTarget(fixture("sleeper.exe"));
  const r = await json<
    {
      pid: number;
      module: Mod;
      ms: number;
      launched: boolean;
      alreadyLoaded: boolean;
    }
  >([
    "inject",
    String(t.pid),
    "--dll",
    fixture("probe.dll"),
  ]);
  assertEquals(r.pid, t.pid);
  assertEquals(r.launched, false);
  assertEquals(r.alreadyLoaded, false);
  assertEquals(r.module.name.toLowerCase(), "probe.dll");
  // Again: nothing more is loaded, and the output says so.
  const again = await json<{ alreadyLoaded: boolean; module: Mod }>([
    "inject",
    String(t.pid),
    "--dll",
    fixture("probe.dll"),
  ]);
  assertEquals([again.alreadyLoaded, again.module.base], [true, r.module.base]);
  const twice = await cli([
    "inject",
    String(t.pid),
    "--dll",
    fixture("probe.dll"),
  ]);
  assertEquals(twice.code, 0, twice.stderr);
  assert(
    /^probe\.dll was loaded in sleeper\.exe \(pid \d+\) already\n/.test(
      twice.stdout,
    ),
    twice.stdout,
  );
  assert(/^0x[0-9a-f]+$/.test(r.module.base) && r.ms > 0);
  const mods = await json<Mod[]>(["modules", String(t.pid)]);
  assertEquals(
    mods.find((m) => m.name.toLowerCase() === "probe.dll")?.base,
    r.module.base,
  );

  const ej = await json<{ ejected: boolean }>([
    "eject",
    String(t.pid),
    "probe.dll",
  ]);
  assertEquals(ej.ejected, true);
  const after = await json<Mod[]>(["modules", String(t.pid)]);
  assert(
    !after.some((m) => m.name.toLowerCase() === "probe.dll"),
    "probe.dll is gone",
  );
  oneLineError(
    await cli(["eject", String(t.pid), "probe.dll"]),
    1,
    /no module probe\.dll/,
    "eject twice",
  );
  // Human output: pid, module base and time.
  const human = await cli([
    "inject",
    String(t.pid),
    "--dll",
    fixture("probe.dll"),
  ]);
  assertEquals(human.code, 0, human.stderr);
  assert(
    /injected probe\.dll into sleeper\.exe \(pid \d+\)/.test(human.stdout),
    human.stdout,
  );
  assert(/module base\s+0x[0-9a-f]+/.test(human.stdout));
  assert(/took\s+[\d.]+ ms/.test(human.stdout));
});

test("cli: inject by name; several matches need --pid; missing names fail", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const probe = fixture("probe.dll");
  await using a = await startTarget(copy.path);
  const r = await json<{ pid: number }>([
    "inject",
    copy.exe,
    "--dll",
    fixture("probe.dll"),
  ]);
  assertEquals(r.pid, a.pid);
  const waitArgs = ["inject", copy.exe, "--wait", "5", "--dll", probe];
  // --wait takes the one running, as it runs on
  const running = await json<{ pid: number; alreadyLoaded: boolean }>(
    waitArgs,
  );
  assertEquals([running.pid, running.alreadyLoaded], [a.pid, true]);

  await using b = await startTarget(copy.path);
  const many = await cli(["inject", copy.exe, "--dll", fixture("probe.dll")]);
  oneLineError(many, 1, /--pid/, "two matches");
  assert(
    many.stderr.includes(String(a.pid)) && many.stderr.includes(String(b.pid)),
  );
  // --wait waits for a start, not for one of those running to be picked
  oneLineError(
    await cli(waitArgs),
    1,
    new RegExp(
      `^error: 2 processes are named ${copy.exe}: (${a.pid}, ${b.pid}|${b.pid}, ${a.pid}); pick one with --pid \\(--wait waits only when none is running\\)\n$`,
    ),
    "two matches, --wait",
  );
  const picked = await json<{ pid: number }>([
    "inject",
    copy.exe,
    "--pid",
    String(b.pid),
    "--dll",
    fixture("probe.dll"),
  ]);
  assertEquals(picked.pid, b.pid);

  oneLineError(
    await cli([
      "inject",
      "no_such_program_xyz.exe",
      "--dll",
      fixture("probe.dll"),
    ]),
    1,
    /No process named no_such_program_xyz\.exe/,
    "missing name",
  );
  oneLineError(
    await cli(["inject", String(a.pid), "--dll", "C:\\nonexistent\\x.dll"]),
    1,
    /No DLL at/,
    "missing dll",
  );
});

test("cli: inject with a path launches that file when another program of the same name runs", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  await using a = await startTarget(copy.path);
  // The same file name in another directory: not the running program.
  const dir = await Deno.makeTempDir();
  const other = `${dir}\\${copy.exe}`;
  await Deno.copyFile(copy.path, other);
  try {
    const r = await json<{ pid: number; launched: boolean }>([
      "inject",
      other,
      "--dll",
      fixture("probe.dll"),
    ]);
    assert(r.launched, JSON.stringify(r));
    assert(r.pid !== a.pid, "the running program of that name was taken");
    await json(["eject", String(r.pid), "probe.dll"]).catch(() => {});
    using p = openProcess(r.pid, PROCESS.TERMINATE);
    terminateProcess(p, 1);
    // --wait on that path waits for that file, not for the running one
    const waited = await cli([
      "inject",
      other,
      "--wait",
      "1",
      "--dll",
      fixture("probe.dll"),
      "--json",
    ]);
    assertEquals(waited.code, 1, waited.stderr);
    assert(/No process ran .* within 1 s/.test(waited.stderr), waited.stderr);
    // and the path of the running one is the running one
    const same = await json<{ pid: number; launched: boolean }>([
      "inject",
      copy.path,
      "--dll",
      fixture("probe.dll"),
    ]);
    assertEquals([same.pid, same.launched], [a.pid, false]);
  } finally {
    for (let i = 0; i < 20; i++) {
      try {
        await Deno.remove(dir, { recursive: true });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
});

test("cli: modules, eject and stats take a process name too; several need --pid", async () => {
  await using copy = await uniqueCopy("cli_sample.exe");
  const args = { args: ["--interval", "200", "--threads", "1"] };
  await using a = await startTarget(copy.path, args);
  const mods = await json<Mod[]>(["modules", copy.exe]);
  assert(
    mods.some((m) => m.name.toLowerCase() === copy.exe),
    "modules by name lists the program itself",
  );
  await json(["inject", copy.exe, "--dll", fixture("probe.dll")]);
  const ej = await json<{ pid: number; ejected: boolean }>([
    "eject",
    copy.exe,
    "probe.dll",
  ]);
  assertEquals([ej.pid, ej.ejected], [a.pid, true]);
  const inj = await json<{ state: string }>([
    "inject",
    copy.exe,
    "--dll",
    hookDll(),
  ]);
  assertEquals(inj.state, "live");
  const s = await json<{ pid: number; state: string }>(["stats", copy.exe]);
  assertEquals([s.pid, s.state], [a.pid, "live"]);

  await using b = await startTarget(copy.path, args);
  for (
    const cmd of [
      ["modules", copy.exe],
      ["stats", copy.exe],
      ["eject", copy.exe, "probe.dll"],
    ]
  ) {
    const many = await cli(cmd);
    oneLineError(many, 1, /--pid/, `${cmd[0]} with two matches`);
    assert(
      many.stderr.includes(String(a.pid)) &&
        many.stderr.includes(String(b.pid)),
      many.stderr,
    );
  }
  const picked = await json<{ pid: number; state: string }>([
    "stats",
    copy.exe,
    "--pid",
    String(a.pid),
  ]);
  assertEquals(picked.pid, a.pid);
  const modsB = await json<Mod[]>([
    "modules",
    copy.exe,
    "--pid",
    String(b.pid),
  ]);
  assert(!modsB.some((m) => m.name.toLowerCase() === "heapshift.dll"));
  oneLineError(
    await cli(["stats", "sleeper.exe", "--pid", String(a.pid)]),
    1,
    new RegExp(`${a.pid} is not named sleeper\\.exe`),
    "--pid of another program",
  );
  oneLineError(
    await cli(["modules", "no_such_program_xyz.exe"]),
    1,
    /No process named no_such_program_xyz\.exe is running/,
    "modules of a missing name",
  );
});

test("cli: inject --wait injects into a program started afterwards", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const run = await waitingInject(copy.exe, [
    "--dll",
    fixture("probe.dll"),
    "--json",
  ]);
  await using t = await startTarget(copy.path);
  const { code, stdout, said } = await run.end();
  assertEquals(code, 0, said.join("\n"));
  const r = JSON.parse(stdout);
  assertEquals(r.pid, t.pid);
  assertEquals(r.module.name.toLowerCase(), "probe.dll");
});

testArches(
  "cli: inject --wait of a program created suspended waits until it has begun initialising",
  async (arch) => {
    await using copy = await uniqueCopy("sleeper.exe", arch);
    const run = await waitingInject(copy.exe, ["--json"]);
    // As a launcher does: created suspended, resumed a while later. Until
    // then its loader has not run, and a remote thread would be the one to
    // initialise it.
    using created = createdSuspended(copy.path);
    await new Promise((r) => setTimeout(r, 2_000));
    if (run.ended()) {
      assert(false, `the CLI did not wait: ${(await run.end()).said}`);
    }
    resumeThread(created.thread);
    const { code, stdout, said } = await run.end();
    assertEquals(code, 0, said.join("\n"));
    const r = JSON.parse(stdout);
    assertEquals([r.pid, r.state], [created.pid, "live"]);
  },
);

test("cli: inject --wait of a program that never begins initialising fails after --timeout, injecting nothing", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const run = await waitingInject(copy.exe, ["--timeout", "2"]);
  using _created = createdSuspended(copy.path);
  const { code, said } = await run.end();
  assertEquals(code, 1, said.join("\n"));
  assert(
    said.some((l) =>
      /^error: .* \(pid \d+\) did not begin initialising within 2 s .*nothing was injected/
        .test(l)
    ),
    said.join("\n"),
  );
});

// (A game that has Steam start it again exits so: another may follow.)
test("cli: inject --wait of a program that exits before it begins initialising waits for another, then fails, having taken over none", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const run = await waitingInject(copy.exe, ["--timeout", "30"], {
    seconds: 5,
  });
  using created = createdSuspended(copy.path);
  await new Promise((r) => setTimeout(r, 1_000));
  terminateProcess(created.process, 1);
  const { code, said } = await run.end();
  assertEquals(code, 1, said.join("\n"));
  const ended =
    `${copy.exe} (pid ${created.pid}) ended (exit 1) before its takeover`;
  assert(
    said.some((l) =>
      l.startsWith(`${ended}: `) &&
      l.endsWith(`waiting up to 5 s for another ${copy.exe} to start…`)
    ) &&
      said.at(-1) ===
        `error: ${ended}, and no other ${copy.exe} started within 5 s (--wait SECONDS waits longer): no ${copy.exe} taken over runs`,
    said.join("\n"),
  );
});

test("cli: inject --wait of a program that crashes before it begins initialising fails at once, injecting nothing", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const run = await waitingInject(copy.exe, ["--timeout", "60"]);
  // The handle held here keeps the ended process listed, as a parent's does.
  using created = createdSuspended(copy.path);
  await new Promise((r) => setTimeout(r, 1_000));
  const t0 = Date.now();
  terminateProcess(created.process, 0xC0000135); // STATUS_DLL_NOT_FOUND
  const { code, said } = await run.end();
  assertEquals(code, 1, said.join("\n"));
  assert(
    said.some((l) =>
      /^error: .* \(pid \d+\) crashed \(0xC0000135, a DLL it needs was not found\) before it began initialising; nothing was injected$/
        .test(l)
    ),
    said.join("\n"),
  );
  assert(Date.now() - t0 < 30_000, "it did not wait out --timeout");
});

test("cli: launch with a DLL given twice (spelt two ways) loads and reports it once", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const probe = fixture("probe.dll");
  const upper = probe.replace(/probe\.dll$/, "PROBE.DLL");
  const r = await json<{ pid: number; dlls: string[] }>([
    "launch",
    copy.path,
    "--dll",
    probe,
    "--dll",
    upper,
  ]);
  try {
    assertEquals(r.dlls.length, 1, r.dlls.join(", "));
    const mods = await json<Mod[]>(["modules", String(r.pid)]);
    assert(mods.some((m) => m.name.toLowerCase() === "probe.dll"));
  } finally {
    Deno.kill(r.pid, "SIGKILL");
  }
});

test("cli: launch loads the DLLs early", async () => {
  await using copy = await uniqueCopy("sleeper.exe");
  const r = await json<{ pid: number; dlls: string[] }>([
    "launch",
    copy.path,
    "--dll",
    fixture("probe.dll"),
  ]);
  try {
    assert(r.pid > 0);
    const mods = await json<Mod[]>(["modules", String(r.pid)]);
    assert(
      mods.some((m) => m.name.toLowerCase() === "probe.dll"),
      "probe.dll loaded",
    );
  } finally {
    Deno.kill(r.pid, "SIGKILL");
  }
  // inject on a path that is not running launches it.
  const viaInject = await json<{ pid: number; launched: boolean }>([
    "inject",
    copy.path,
    "--dll",
    fixture("probe.dll"),
  ]);
  try {
    assertEquals(viaInject.launched, true);
    const mods = await json<Mod[]>(["modules", String(viaInject.pid)]);
    assert(mods.some((m) => m.name.toLowerCase() === "probe.dll"));
  } finally {
    Deno.kill(viaInject.pid, "SIGKILL");
  }
  // --wait-exit: the program runs to its end with heapshift loaded first,
  // and its exit code (0: no damaged block) becomes the CLI's.
  const waited = await cli([
    "launch",
    fixture("cli_sample.exe"),
    "--dll",
    hookDll(),
    "--wait-exit",
    "--",
    "--seconds",
    "1",
    "--threads",
    "1",
  ]);
  assertEquals(waited.code, 0, waited.stderr);
  assert(
    /launched cli_sample\.exe \(pid \d+\)/.test(waited.stderr),
    waited.stderr,
  );
  oneLineError(
    await cli(["launch", "C:\\nonexistent\\x.exe"]),
    1,
    /No executable/,
    "launch missing",
  );
});

test("cli: launch of a program on another C runtime goes ahead with a warning that it may take nothing over; a UCRT plugin it loads is taken over", async () => {
  const r = await cli([
    "launch",
    fixture("api_msvcrt_host.exe"),
    "--dll",
    hookDll(),
    "--json",
    "--",
    fixture("api_ucrt_plugin.dll"),
    "plugin_work",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const { pid, state } = JSON.parse(r.stdout);
  try {
    assertEquals(state, "live");
    assert(
      /warning: heapshift takes over the UCRT's allocator \(ucrtbase\.dll\), and api_msvcrt_host\.exe uses the old C runtime \(msvcrt\.dll\), none of its files the UCRT: heapshift\.dll would have nothing to take over unless the program loads a module that uses the UCRT \(a plugin\)/
        .test(r.stderr),
      r.stderr,
    );
  } finally {
    Deno.kill(pid, "SIGKILL");
  }
  // inject of an executable launches it: so with the same warning.
  await using copy = await uniqueCopy("api_msvcrt.exe");
  const i = await cli(["inject", copy.path, "--dll", hookDll(), "--json"]);
  assertEquals(i.code, 0, i.stderr);
  Deno.kill(JSON.parse(i.stdout).pid, "SIGKILL");
  assert(
    /warning: heapshift takes over the UCRT's allocator .* uses the old C runtime \(msvcrt\.dll\)/
      .test(i.stderr),
    i.stderr,
  );
  // A UCRT program is not warned about.
  const u = await cli(["launch", fixture("sleeper.exe"), "--dll", hookDll()]);
  try {
    assertEquals(u.code, 0, u.stderr);
    assert(!/warning/.test(u.stderr), u.stderr);
  } finally {
    const m = /pid (\d+)/.exec(u.stdout);
    if (m) Deno.kill(Number(m[1]), "SIGKILL");
  }
});

test("cli: inject into a running program on another C runtime goes ahead with a warning while none of its modules uses the UCRT, and without one once a plugin of its does", async () => {
  // As launch: a plugin it loads later (rundll32, dllhost, a MinGW host)
  // is taken over through the ucrtbase.dll heapshift hooked first.
  await using old = await startTarget(fixture("api_msvcrt.exe"));
  const r = await cli(["inject", String(old.readyPid), "--dll", hookDll()]);
  assertEquals(r.code, 0, r.stderr);
  assert(/state\s+live/.test(r.stdout), r.stdout);
  assert(
    /warning: heapshift takes over the UCRT's allocator \(ucrtbase\.dll\), and api_msvcrt\.exe uses the old C runtime \(msvcrt\.dll\), none of its loaded modules the UCRT yet: heapshift\.dll takes over only the allocations of a module it loads later that uses the UCRT \(a plugin\)/
      .test(r.stderr),
    r.stderr,
  );
  // Its plugin on the UCRT is loaded: heapshift takes that over, no warning.
  await using host = await startTarget(fixture("api_msvcrt_host.exe"), {
    args: [fixture("api_ucrt_plugin.dll"), "plugin_work"],
  });
  const h = await cli(["inject", String(host.readyPid), "--dll", hookDll()]);
  assertEquals(h.code, 0, h.stderr);
  assert(!/warning/.test(h.stderr), h.stderr);
});

test("cli: launch and inject of an executable give the load --timeout seconds, then stop the program", async () => {
  // api_slow.dll's DllMain sleeps 5 s: over a 1 s --timeout. That the CLI
  // gave up first and stopped the program is told by the DLL's mark, not
  // by how long the run took (a Deno start alone takes seconds under load).
  await using copy = await uniqueCopy("sleeper.exe");
  const dir = copy.path.replace(/\\[^\\]+$/, "");
  for (const command of ["launch", "inject"]) {
    const mark = slowMark(dir, command);
    const r = await cli([
      command,
      copy.path,
      "--dll",
      fixture("api_slow.dll"),
      "--timeout",
      "1",
    ], mark.env);
    oneLineError(
      r,
      1,
      /did not finish loading them within 1000 ms \(it was stopped\)/,
      `${command} --timeout 1`,
    );
    await untilGone(copy.exe);
    const lines = await mark.lines();
    assert(!lines.includes("done"), `${command} gave up before the DLL did`);
  }
});

/** Runs a program with `input` on its stdin; collects its output and code. */
async function runWithInput(
  exe: string,
  args: string[],
  input: Uint8Array,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(exe, {
    args,
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Written while the output is read: a program that never reads its
  // input must fail the test, not block it on a full pipe.
  const writer = child.stdin.getWriter();
  const written = writer.write(input).then(() => writer.close()).catch(
    () => {},
  );
  const out = await child.output();
  await written;
  return {
    code: out.code,
    stdout: out.stdout,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

test("cli: launch --wait-exit of a console program keeps its stdin, stdout, stderr and exit code", async () => {
  const input = new TextEncoder().encode(
    "first line\r\nsecond line\n" + "x".repeat(100_000) + "\nend",
  );
  const args = ["--exit", "7", "two words"];
  // What the program does run directly: the oracle.
  const direct = await runWithInput(fixture("cli_echo.exe"), args, input);
  assertEquals(direct.code, 7);
  const text = new TextDecoder().decode(direct.stdout);
  assert(text.endsWith(`stdin ${input.length} bytes\n`), text.slice(-100));
  const launched = await runWithInput(Deno.execPath(), [
    "run",
    "-A",
    CLI,
    "launch",
    fixture("cli_echo.exe"),
    "--dll",
    hookDll(),
    "--wait-exit",
    "--",
    ...args,
  ], input);
  assertEquals(launched.code, 7, launched.stderr);
  // Compared by hand: a diff of 100 KB arrays would take minutes to print.
  const same = launched.stdout.length === direct.stdout.length &&
    launched.stdout.every((b, i) => b === direct.stdout[i]);
  assert(
    same,
    `stdout is the program's alone: ${launched.stdout.length} bytes ${
      JSON.stringify(new TextDecoder().decode(launched.stdout.slice(0, 200)))
    }…`,
  );
  // stderr: the program's line, byte for byte as when run directly.
  assertEquals(direct.stderr, "on stderr, exiting with 7\n");
  assert(
    launched.stderr.includes(direct.stderr),
    JSON.stringify([direct.stderr, launched.stderr]),
  );
  // The launch report goes to stderr after the program's end: stdout
  // belongs to the program, and its stderr lines come first, whole.
  assert(
    new RegExp(
      `^${direct.stderr}launched cli_echo\\.exe \\(pid \\d+\\)\n[^]*  exit  7\n$`,
    ).test(launched.stderr),
    JSON.stringify([direct.stderr, launched.stderr]),
  );
});

testArches(
  "cli: inject again retries a takeover that failed for a reason that may pass, and it goes live",
  async (arch) => {
    // The first takeover finds a site busy on every attempt (test fault),
    // as when a thread stays inside a function to patch; the next does not.
    await using t = await startTarget(fixture("cli_sample.exe", arch), {
      args: ["--interval", "100", "--threads", "2"],
      env: { HEAPSHIFT_TEST_FAULTS: "busy-takeovers:1" },
    });
    const first = await cli(["inject", String(t.pid)]);
    oneLineError(
      first,
      1,
      /did not take over \(thread-in-site: .*this may pass: `inject \d+` tries again/,
      "inject, first takeover failed",
    );
    type Stats = { state: string; reason: string | null; counters: Counters };
    type Counters = { allocs: number; frees: number };
    const failed = await json<Stats>(["stats", String(t.pid)]);
    assertEquals([failed.state, failed.reason], ["failed", "thread-in-site"]);
    assertEquals(failed.counters.allocs, 0, "no hook ran");

    const again = await json<{ module: Mod }>(["inject", String(t.pid)]);
    assertEquals(
      again.module.name.toLowerCase(),
      arch === "x86" ? "heapshift32.dll" : "heapshift.dll",
    );
    // The program's allocations and frees now go through the hooks.
    let s = await json<Stats>(["stats", String(t.pid)]);
    for (
      const until = Date.now() + 30_000;
      !(s.counters.allocs > 0 && s.counters.frees > 0) && Date.now() < until;
    ) {
      s = await json<Stats>(["stats", String(t.pid)]);
    }
    assertEquals([s.state, s.reason], ["live", null]);
    assert(
      s.counters.allocs > 0 && s.counters.frees > 0,
      JSON.stringify(s.counters),
    );
  },
);

testArches(
  "cli: the hook DLL in a busy program: stats, stats --watch, pinned eject",
  async (arch) => {
    await using t = await startTarget(fixture("cli_sample.exe", arch), {
      args: ["--interval", "200", "--threads", "1"],
    });
    const name = arch === "x86" ? "heapshift32.dll" : "heapshift.dll";
    oneLineError(
      await cli(["stats", String(t.pid)]),
      1,
      /heapshift/i,
      "stats before injection",
    );
    // No --dll: the CLI picks the DLL of the program's architecture.
    const inj = await json<{ module: Mod; dll: string }>([
      "inject",
      String(t.pid),
    ]);
    assertEquals(inj.dll, hookDll(arch));
    assertEquals(inj.module.name.toLowerCase(), name);
    type Stats = {
      pid: number;
      state: string;
      hooked: string[];
      counters: Record<string, number>;
    };
    // Live as soon as inject returns; wait for the busy program's first
    // allocations and frees through the hooks.
    let s = await json<Stats>(["stats", String(t.pid)]);
    for (
      const until = Date.now() + 30_000;
      !(s.counters.allocs > 0 && s.counters.frees > 0) && Date.now() < until;
    ) {
      s = await json<Stats>(["stats", String(t.pid)]);
    }
    assertEquals(s.pid, t.pid);
    assertEquals(s.state, "live");
    assert(s.hooked.includes("malloc"), "malloc is hooked");
    assert(
      s.counters.allocs > 0 && s.counters.frees > 0,
      JSON.stringify(s.counters),
    );

    const watch = await cli([
      "stats",
      String(t.pid),
      "--watch",
      "--interval",
      "0.3",
      "--count",
      "3",
      "--json",
    ]);
    assertEquals(watch.code, 0, watch.stderr);
    const samples = watch.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(samples.length, 3);
    // The program allocates all the time: each sample sees more than the last.
    assert(
      samples[0].counters.allocs < samples[1].counters.allocs &&
        samples[1].counters.allocs < samples[2].counters.allocs,
      JSON.stringify(samples.map((x) => x.counters.allocs)),
    );

    const human = await cli(["stats", String(t.pid)]);
    assert(/allocations\s+[\d,]+/.test(human.stdout), human.stdout);
    assert(/migrations\s+[\d,]+/.test(human.stdout));

    oneLineError(
      await cli(["eject", String(t.pid), name]),
      1,
      /pinned/i,
      "eject heapshift.dll",
    );
    // The program keeps running correctly after all that: asked to stop, it
    // finishes its work (every tick since it started undamaged, the last ones
    // hooked) and exits 0.
    const w = t.child.stdin.getWriter();
    await w.write(new TextEncoder().encode("stop\n"));
    await w.close();
    const ticks: string[] = [];
    let done = "";
    for (let l = await t.lines.next(); !l.done; l = await t.lines.next()) {
      if (l.value.startsWith("done ")) done = l.value;
      else if (l.value.startsWith("tick ")) ticks.push(l.value);
    }
    assert(/ corrupt=0$/.test(done), `done line: ${done}`);
    assert(ticks.every((l) => / corrupt=0$/.test(l)), ticks.join("\n"));
    assert(/ hooked=1 /.test(ticks.at(-1) ?? ""), ticks.join("\n"));
    assertEquals((await t.child.status).code, 0);
  },
);

test("cli: imports and patch on a copy of a fixture", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const exe = `${dir}\\app.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), exe);
    const imps = await json<{ dll: string; kind: string }[]>(["imports", exe]);
    assert(
      imps.some((d) => /^api-ms-win-crt-/i.test(d.dll)),
      "imports the UCRT",
    );
    const syms = await json<{ dll: string; symbols: string[] }[]>([
      "imports",
      exe,
      "-s",
    ]);
    assert(syms.some((d) => d.symbols.length > 0));

    const list = await json<{ changed: boolean; output?: string }>([
      "patch",
      exe,
      "--list",
    ]);
    assertEquals(list.changed, true);
    assertEquals(list.output, undefined);

    const rep = await json<
      { action: string; output: string; imports: string[] }
    >([
      "patch",
      exe,
    ]);
    assertEquals(rep.action, "added");
    assertEquals(rep.output, `${dir}\\app.heapshift.exe`);
    const after = await json<{ dll: string }[]>(["imports", rep.output]);
    assertEquals(after[0].dll.toLowerCase(), "heapshift.dll");
    oneLineError(
      await cli(["patch", exe]),
      1,
      /exists|--force/i,
      "patch twice",
    );
    assertEquals((await cli(["patch", exe, "--force"])).code, 0);

    const rm = await json<{ action: string }>([
      "patch",
      rep.output,
      "--remove",
      "--inplace",
    ]);
    assertEquals(rm.action, "removed");
    const restored = await json<{ dll: string }[]>(["imports", rep.output]);
    assert(!restored.some((d) => d.dll.toLowerCase() === "heapshift.dll"));
    const human = await cli(["patch", exe, "--inplace", "--postfix", "-x"]);
    assertEquals(human.code, 0, human.stderr);
    assert(/heapshift-x\.dll added first/.test(human.stdout), human.stdout);
    oneLineError(
      await cli(["imports", `${dir}\\missing.exe`]),
      1,
      /missing\.exe/,
      "imports missing",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Runs `attrib` (Windows' own) on `path` with each of `flags` in turn
 * (Wine's takes one at a time); it must succeed.
 */
async function attrib(path: string, ...flags: string[]): Promise<void> {
  for (const flag of flags) {
    const r = await new Deno.Command("cmd.exe", {
      args: ["/c", "attrib", flag, path],
    }).output();
    assertEquals(r.code, 0, new TextDecoder().decode(r.stdout));
  }
}

/** The hidden and system attributes of `path`, as attrib's letters. */
function hiddenSystem(path: string): string {
  const a = getFileAttributes(path);
  return `${a & FILE_ATTRIBUTE.HIDDEN ? "H" : "-"}${
    a & FILE_ATTRIBUTE.SYSTEM ? "S" : "-"
  }`;
}

// A rename puts a new file in the old one's place: one made beside it
// has none of its attributes; the user's hidden file must stay hidden.
test("cli: patch --inplace keeps the program's hidden and system attributes, on the backup too; a plain program stays plain", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hidden = `${dir}\\hidden.exe`;
    const plain = `${dir}\\plain.exe`;
    await Deno.copyFile(fixture("sleeper.exe"), hidden);
    await Deno.copyFile(fixture("sleeper.exe"), plain);
    await attrib(hidden, "+h", "+s");
    assertEquals(hiddenSystem(hidden), "HS");
    for (const exe of [hidden, plain]) {
      const r = await cli(["patch", exe, "--inplace"]);
      assertEquals(r.code, 0, r.stderr);
    }
    assertEquals(hiddenSystem(hidden), "HS");
    assertEquals(hiddenSystem(`${hidden}.bak`), "HS");
    assertEquals(hiddenSystem(plain), "--");
    assertEquals(hiddenSystem(`${plain}.bak`), "--");
    const after = await json<{ dll: string }[]>(["imports", hidden]);
    assertEquals(after[0].dll.toLowerCase(), "heapshift.dll");
    await attrib(hidden, "-h", "-s");
    await attrib(`${hidden}.bak`, "-h", "-s");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("cli: specialk keeps a hidden ini hidden, and its backup", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}\\SpecialK.ini`;
    await Deno.copyFile(repoPath("tests/fixtures/cli_specialk.ini"), ini);
    await attrib(ini, "+h");
    const r = await json<{ action: string; backup: string }>([
      "specialk",
      "--ini",
      ini,
      "--dll",
      hookDll(),
    ]);
    assertEquals(r.action, "added");
    assertEquals(hiddenSystem(ini), "H-");
    assertEquals(hiddenSystem(r.backup), "H-");
    await attrib(ini, "-h");
    await attrib(r.backup, "-h");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("cli: doctor checks the system, the DLL and a program", async () => {
  const r = await json<
    {
      ok: boolean;
      checks: { check: string; ok: boolean | null; detail: string }[];
    }
  >(
    ["doctor", fixture("sleeper.exe"), "--dll", hookDll()],
  );
  const by = (n: string) => r.checks.find((x) => x.check === n);
  assertEquals(by("hook DLL")?.ok, true);
  assertEquals(by("heapshift DLL")?.ok, true);
  assertEquals(by("DLL loads")?.ok, true, by("DLL loads")?.detail);
  assertEquals(by("C runtime")?.ok, true);
  assertEquals(r.ok, true);
  const notDll = await cli([
    "doctor",
    "--dll",
    fixture("sleeper.exe"),
    "--json",
  ]);
  assertEquals(notDll.code, 1, "doctor exits 1 when a check fails");
  const nd = JSON.parse(notDll.stdout);
  assertEquals(nd.ok, false);
  assert(
    nd.checks.some((x: { check: string; ok: boolean; detail: string }) =>
      x.check === "DLL format" && !x.ok && /not a DLL/.test(x.detail)
    ),
  );
  // A DLL whose initialisation fails: the loader's verdict, from a real
  // process started with it.
  /** doctor --dll DLL fails, and its "DLL loads" check says why. */
  const failedLoad = async (dll: string) => {
    const r = await cli(["doctor", "--dll", fixture(dll), "--json"]);
    assertEquals(r.code, 1, r.stderr);
    const loads = JSON.parse(r.stdout).checks.find((
      x: { check: string },
    ) => x.check === "DLL loads");
    assertEquals(loads?.ok, false, r.stdout);
    return loads.detail as string;
  };
  const initFail = await failedLoad("api_initfail.dll");
  assert(/api_initfail\.dll/.test(initFail), initFail);
  // A DLL that ends the process that loads it (exit code 3): the program
  // never ran, which is no pass.
  const ended = await failedLoad("api_exitload.dll");
  assert(/ended with code 3\b/.test(ended), ended);
  const human = await cli([
    "doctor",
    fixture("sleeper.exe"),
    "--dll",
    hookDll(),
  ]);
  assertEquals(human.code, 0);
  assert(
    /✓ C runtime\s+uses the UCRT dynamically/.test(human.stdout),
    human.stdout,
  );
});

test("cli: specialk refuses an ini with the read-only attribute, leaving it and making no backup", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}\\SpecialK.ini`;
    const text = "[SpecialK.System]\r\nShowEULA=false\r\n";
    await Deno.writeTextFile(ini, text);
    // (how a user keeps Special K from rewriting its ini)
    const attrib = await new Deno.Command("cmd.exe", {
      args: ["/c", "attrib", "+r", ini],
    }).output();
    assertEquals(attrib.code, 0);
    const r = await cli(["specialk", "--ini", ini, "--dll", hookDll()]);
    oneLineError(r, 1, /read-only or not yours to write/, "read-only ini");
    assertEquals(await Deno.readTextFile(ini), text);
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["SpecialK.ini"],
    );
    await new Deno.Command("cmd.exe", { args: ["/c", "attrib", "-r", ini] })
      .output();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("cli: specialk registers the DLL in a sample ini, idempotently", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}\\SpecialK.ini`;
    await Deno.copyFile(repoPath("tests/fixtures/cli_specialk.ini"), ini);
    const r = await json<{ action: string; backup: string }>([
      "specialk",
      "--ini",
      ini,
      "--dll",
      hookDll(),
    ]);
    assertEquals(r.action, "added");
    const text = await Deno.readTextFile(ini);
    assert(
      text.includes(
        `[Import.heapshift]\nArchitecture=x64\nRole=ThirdParty\nWhen=Early\nFilename=${hookDll()}\n`,
      ),
      text,
    );
    assertEquals(
      await Deno.readTextFile(r.backup),
      await Deno.readTextFile(repoPath("tests/fixtures/cli_specialk.ini")),
    );
    const again = await json<{ action: string }>([
      "specialk",
      "--ini",
      ini,
      "--dll",
      hookDll(),
    ]);
    assertEquals(again.action, "unchanged");
    // A Special K install found through --sk-dir: a game's profile.
    const sk = `${dir}\\Special K`;
    await Deno.mkdir(`${sk}\\Profiles\\Sample Game`, { recursive: true });
    await Deno.writeTextFile(
      `${sk}\\Profiles\\Sample Game\\SpecialK.ini`,
      "[SpecialK.System]\r\n",
    );
    const game = await json<{ action: string; path: string }>([
      "specialk",
      "--sk-dir",
      sk,
      "--game",
      "sample game",
      "--dll",
      hookDll(),
    ]);
    assertEquals(game.action, "added");
    assert(game.path.endsWith("SpecialK.ini"));
    /** specialk --game NAME in that install. */
    const forGame = (name: string) =>
      cli(["specialk", "--sk-dir", sk, "--game", name, "--dll", hookDll()]);
    oneLineError(
      await forGame("Other"),
      1,
      /no profile for Other.*Sample Game/,
      "unknown game",
    );
    // Two profiles containing the name: neither is picked, both are named.
    await Deno.mkdir(`${sk}\\Profiles\\Sample Game II`, { recursive: true });
    await Deno.writeTextFile(
      `${sk}\\Profiles\\Sample Game II\\SpecialK.ini`,
      "[SpecialK.System]\r\n",
    );
    oneLineError(
      await forGame("sample"),
      1,
      /^error: Several Special K profiles match sample: Sample Game, Sample Game II \(give the whole name\)\n$/,
      "ambiguous game",
    );
    assertEquals(
      await Deno.readTextFile(`${sk}\\Profiles\\Sample Game II\\SpecialK.ini`),
      "[SpecialK.System]\r\n",
      "an ambiguous name edits nothing",
    );
    oneLineError(
      await forGame(""),
      2,
      /^error: --game needs a profile name\n$/,
      "empty game",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The Global folder and the profiles were named `${dir}/Global`: after a
// \\?\ prefix a '/' is part of a name, so a Special K folder given that
// way (Windows' form past MAX_PATH) could not be edited.
test("cli: specialk edits the global defaults and a profile of a --sk-dir given as a \\\\?\\ path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plain = `${dir}\\Special K`;
    const sk = `\\\\?\\${plain}`;
    await Deno.mkdir(`${plain}\\Profiles\\Sample Game`, { recursive: true });
    await Deno.writeTextFile(`${plain}\\SpecialK64.dll`, "");
    const ini = `${plain}\\Profiles\\Sample Game\\SpecialK.ini`;
    await Deno.writeTextFile(ini, "[SpecialK.System]\r\n");
    const global = await json<{ action: string }>([
      "specialk",
      "--sk-dir",
      sk,
      "--dll",
      hookDll(),
    ]);
    assertEquals(global.action, "added");
    // (a new ini is written as Special K writes one: UTF-16LE)
    const defaults = new TextDecoder("utf-16le").decode(
      await Deno.readFile(`${plain}\\Global\\default_SpecialK.ini`),
    );
    assert(defaults.includes(`Filename=${hookDll()}`), defaults);
    const game = await json<{ action: string }>([
      "specialk",
      "--sk-dir",
      sk,
      "--game",
      "sample game",
      "--dll",
      hookDll(),
    ]);
    assertEquals(game.action, "added");
    const text = await Deno.readTextFile(ini);
    assert(text.includes(`Filename=${hookDll()}`), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testArches(
  "cli: specialk refuses to edit a profile while a game with that Special K runs, and edits it once the game has ended",
  async (arch) => {
    const dir = await Deno.makeTempDir();
    try {
      const sk = `${dir}\\Special K`;
      const profile = `${sk}\\Profiles\\Sample Game`;
      const ini = `${profile}\\SpecialK.ini`;
      const text = "[SpecialK.System]\r\nShowEULA=false\r\n";
      await Deno.mkdir(profile, { recursive: true });
      await Deno.writeTextFile(ini, text);
      const skDll = `${sk}\\SpecialK${arch === "x86" ? 32 : 64}.dll`;
      const byGame = ["specialk", "--sk-dir", sk, "--game", "sample game"];
      const byIni = ["specialk", "--ini", ini];
      // Special K only sitting in a program (its global hook reaches every
      // one): no game, nothing written back; the edit is made.
      await Deno.copyFile(fixture("probe.dll", arch), skDll);
      {
        await using _idle = await startTarget(
          fixture("api_dynuser.exe", arch),
          { args: [skDll] },
        );
        const add = await json<{ action: string }>([
          ...byGame,
          "--dll",
          hookDll(),
        ]);
        assertEquals(add.action, "added", "Special K loaded, not active");
        const remove = await json<{ action: string }>([...byGame, "--remove"]);
        assertEquals(remove.action, "removed");
        await Deno.writeTextFile(ini, text);
        await Deno.remove(`${ini}.heapshift-backup`);
      }
      // A "game" with this install's Special K active in it.
      await Deno.copyFile(fixture("sk_stub.dll", arch), skDll);
      {
        await using game = await startTarget(fixture("api_dynuser.exe", arch), {
          args: [skDll],
        });
        const exe = arch === "x86" ? "api_dynuser32" : "api_dynuser";
        const running = new RegExp(
          `Special K runs in ${exe}\\.exe \\(pid ${game.readyPid}\\).*close the game, then run this again`,
        );
        for (
          const args of [
            [...byGame, "--dll", hookDll()],
            [...byIni, "--dll", hookDll()],
            [...byGame, "--remove"],
          ]
        ) {
          oneLineError(await cli(args), 1, running, args.join(" "));
          assertEquals(await Deno.readTextFile(ini), text, args.join(" "));
          assertEquals(
            [...Deno.readDirSync(profile)].map((e) => e.name),
            ["SpecialK.ini"],
            `${args.join(" ")}: no backup`,
          );
        }
        // --force goes ahead (nothing to remove here: nothing written)
        const forced = await json<{ action: string }>([
          ...byGame,
          "--remove",
          "--force",
        ]);
        assertEquals(forced.action, "absent", "--force");
        // Special K never writes its defaults: they may be edited meanwhile.
        const global = await json<{ action: string }>([
          "specialk",
          "--sk-dir",
          sk,
          "--global",
          "--dll",
          hookDll(),
        ]);
        assertEquals(global.action, "added");
      }
      const after = await json<{ action: string }>([
        ...byGame,
        "--dll",
        hookDll(),
      ]);
      assertEquals(after.action, "added", "the game has ended");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testArches(
  "cli: specialk refuses to edit a local copy's ini while its game runs, though that Special K marks no game active (before 25.12.2.1)",
  async (arch) => {
    // A local copy (dxgi.dll beside the game) is loaded by that game only;
    // Special K before 25.12.2.1 (December 2025) creates no
    // Local\SK_InjectedPid_<pid> event, which probe.dll stands in for.
    await using game = await uniqueCopy("api_dynuser.exe", arch);
    const dir = game.path.slice(0, game.path.lastIndexOf("\\"));
    const ini = `${dir}\\dxgi.ini`;
    const text = "[Render.DXGI]\r\n";
    await Deno.writeTextFile(ini, text);
    await Deno.copyFile(fixture("probe.dll", arch), `${dir}\\dxgi.dll`);
    {
      await using running = await startTarget(game.path, {
        args: [`${dir}\\dxgi.dll`],
      });
      const args = ["specialk", "--ini", ini, "--dll", hookDll()];
      oneLineError(
        await cli(args),
        1,
        new RegExp(
          `Special K runs in ${
            game.exe.replace(".", "\\.")
          } \\(pid ${running.readyPid}\\)`,
        ),
        "local copy, game running",
      );
      assertEquals(await Deno.readTextFile(ini), text);
    }
    const after = await json<{ action: string }>([
      "specialk",
      "--ini",
      ini,
      "--dll",
      hookDll(),
    ]);
    assertEquals(after.action, "added", "the game has ended");
  },
);

test("cli: specialk finds Special K where the registry says: a moved Documents folder (OneDrive), Special K's Path, its installer's InstallLocation", async () => {
  const shell =
    "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders";
  const kaldaien = "HKCU\\Software\\Kaldaien\\Special K";
  const uninstall =
    "HKLM\\Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{F4A43527-9457-424A-90A6-17CF02ACF677}_is1";
  const reg = async (...args: string[]) => {
    const r = await new Deno.Command("reg", { args, stdout: "null" }).output();
    assertEquals(r.code, 0, `reg ${args.join(" ")}`);
  };
  const keyExists = async (key: string) =>
    (await new Deno.Command("reg", {
      args: ["query", key],
      stdout: "null",
      stderr: "null",
    }).output()).success;
  // What the test changes, as the prefix had it: each value, and the
  // outermost key the test's `reg add` creates when it is not there.
  const saved = await Promise.all(
    [
      [shell, "Personal", "REG_EXPAND_SZ", shell],
      [kaldaien, "Path", "REG_SZ", "HKCU\\Software\\Kaldaien"],
      [uninstall, "InstallLocation", "REG_SZ", uninstall],
    ].map(async ([key, name, type, outer]) => ({
      key,
      name,
      type,
      outer,
      outerExisted: await keyExists(outer),
      value: valueNamed(await regValues(key), name),
    })),
  );
  const dir = await Deno.makeTempDir();
  let failure: unknown;
  try {
    /** A Special K install with a profile for `game`. */
    const install = async (sk: string, game: string) => {
      await Deno.mkdir(`${sk}\\Profiles\\${game}`, { recursive: true });
      await Deno.writeTextFile(
        `${sk}\\Profiles\\${game}\\SpecialK.ini`,
        "[SpecialK.System]\r\n",
      );
    };
    // Documents backed up by OneDrive: not under %USERPROFILE%\Documents.
    const docs = `${dir}\\José\\OneDrive\\Documents`;
    await install(`${docs}\\My Mods\\SpecialK`, "Sample Game");
    await reg(
      "add",
      shell,
      "/v",
      "Personal",
      "/t",
      "REG_EXPAND_SZ",
      "/d",
      docs,
      "/f",
    );
    const found = await json<{ path: string }>([
      "specialk",
      "--game",
      "Sample Game",
      "--dll",
      hookDll(),
    ]);
    assertEquals(
      found.path,
      `${docs}\\My Mods\\SpecialK\\Profiles\\Sample Game\\SpecialK.ini`,
    );
    // Special K's own Path (HKCU\Software\Kaldaien\Special K), as %VARS%.
    const sk = `${dir}\\Elsewhere\\SK`;
    await install(sk, "Other Game");
    await reg("add", kaldaien, "/v", "Path", "/t", "REG_SZ", "/d", sk, "/f");
    const other = await json<{ path: string }>([
      "specialk",
      "--game",
      "Other Game",
      "--dll",
      hookDll(),
    ]);
    assertEquals(other.path, `${sk}\\Profiles\\Other Game\\SpecialK.ini`);
    // ... with no temporary folder to write in (TEMP gone, or not the user's)
    const noTemp = `${dir}\\missing`;
    const r = await cli(
      ["specialk", "--game", "Other Game", "--dll", hookDll(), "--json"],
      { TEMP: noTemp, TMP: noTemp },
    );
    assertEquals(r.code, 0, `TEMP missing: ${r.stderr}`);
    // Installed elsewhere by a 32-bit installer: its uninstall entry, first.
    const installed = `${dir}\\Custom\\Special K`;
    await install(installed, "Third Game");
    await reg(
      "add",
      uninstall,
      "/v",
      "InstallLocation",
      "/d",
      `${installed}\\`,
      "/f",
    );
    const third = await json<{ path: string }>([
      "specialk",
      "--game",
      "Third Game",
      "--dll",
      hookDll(),
    ]);
    assertEquals(
      third.path,
      `${installed}\\Profiles\\Third Game\\SpecialK.ini`,
    );
  } catch (e) {
    failure = e;
  }
  // the prefix's registry as it was, even after a failure (then that failure
  // is the one reported, a failed restore only printed)
  const unrestored: string[] = [];
  for (const v of saved) {
    try {
      if (!v.outerExisted) {
        if (await keyExists(v.outer)) await reg("delete", v.outer, "/f");
      } else if (v.value === undefined) {
        if (valueNamed(await regValues(v.key), v.name) !== undefined) {
          await reg("delete", v.key, "/v", v.name, "/f");
        }
      } else {
        const { key, name, type, value } = v;
        await reg("add", key, "/v", name, "/t", type, "/d", value, "/f");
      }
      const now = (await keyExists(v.outer)) &&
        valueNamed(await regValues(v.key), v.name);
      if (!v.outerExisted ? now !== false : now !== v.value) {
        throw new Error(`is ${JSON.stringify(now)}`);
      }
    } catch (e) {
      unrestored.push(`${v.key} ${v.name}: ${e}`);
    }
  }
  await Deno.remove(dir, { recursive: true });
  if (failure !== undefined) {
    if (unrestored.length) console.error(`not restored: ${unrestored}`);
    throw failure;
  }
  assertEquals(unrestored, [], "the registry restored");
});

testArches(
  "cli: demo injects into the sample and reports the takeover",
  async (arch) => {
    const r = await json<{
      summary: {
        injected: boolean;
        corrupt: number;
        before: { rate: number; old: number };
        after: { rate: number; old: number; migrations: number };
      };
      ticks: unknown[];
    }>([
      "demo",
      "--arch",
      arch,
      "--sample",
      fixture("cli_sample.exe", arch),
      "--before",
      "1.5",
      "--after",
      "3",
    ]);
    assertEquals(r.summary.injected, true);
    assertEquals(r.summary.corrupt, 0);
    assert(r.summary.before.rate > 0 && r.summary.after.rate > 0);
    assert(r.summary.before.old > 1000, "old blocks before");
    assert(r.summary.after.old < r.summary.before.old, "old blocks drain");
    assert(r.summary.after.migrations > 0, "migrations happened");
    // Ticks from both sides of the takeover, every one without damage: the
    // summary above is made of them (how many depends on the machine's pace).
    const ticks = r.ticks as { hooked: boolean; corrupt: number }[];
    assert(ticks.some((t) => !t.hooked) && ticks.some((t) => t.hooked));
    assert(ticks.every((t) => t.corrupt === 0), JSON.stringify(ticks));
  },
);

test("cli: demo fails, saying why, when heapshift loads but does not take over", async () => {
  // HEAPSHIFT_DISABLE reaches the sample (the demo starts it with its own
  // environment): heapshift.dll loads there and patches nothing, so the
  // sample never runs on mimalloc and the demo must not say it did.
  const r = await cli([
    "demo",
    "--sample",
    fixture("cli_sample.exe"),
    "--before",
    "1",
    "--after",
    "1",
  ], { HEAPSHIFT_DISABLE: "1" });
  oneLineError(
    r,
    1,
    /disabled: HEAPSHIFT_DISABLE.*run the demo again without that variable\)$/m,
    "demo, takeover disabled",
  );
  assert(!/malloc now goes to mimalloc/.test(r.stdout), r.stdout);
});

test("demo's sample counts a block whose contents a realloc lost", async () => {
  // Its realloc keeps a block's first 8 bytes only: the slot number and
  // size survive, the rest of what the program wrote does not.
  const run = await runFixture(fixture("cli_sample_badrealloc.exe"), [
    "--seconds",
    "1",
    "--interval",
    "200",
  ]);
  const done = run.lines.find((l) => l.startsWith("done ")) ?? "";
  const corrupt = Number(/ corrupt=(\d+)/.exec(done)?.[1]);
  assert(corrupt > 0, `done line: ${done}`);
  assertEquals(run.code, 3, "a sample that saw damage exits 3");
});

testArches(
  "cli: stats --watch --json of a program that ends mid-watch stops at its end with exit 0, JSON lines only",
  async (arch) => {
    await using t = await startTarget(fixture("cli_sample.exe", arch), {
      args: ["--interval", "200", "--threads", "1"],
    });
    const inj = await cli(["inject", String(t.pid)]);
    assertEquals(inj.code, 0, inj.stderr);
    const watch = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "stats", String(t.pid), "--watch", "--json"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = readLines(watch.stdout);
    const first = await out.next();
    assertEquals(JSON.parse(first.value ?? "{}").pid, t.pid);
    // The program ends, asked to: the watch sees it at its next sample.
    const w = t.child.stdin.getWriter();
    await w.write(new TextEncoder().encode("stop\n"));
    await w.close();
    await t.child.status;
    while (!(await out.next()).done) { /* the samples before its end */ }
    const [status, stderr] = await Promise.all([
      watch.status,
      new Response(watch.stderr).text(),
    ]);
    assertEquals(status.code, 0, stderr);
    // --json: nothing but JSON lines on stdout, and no message on stderr.
    assertEquals(stderr, "");
  },
);
