// Platform-free tests of the CLI: usage errors, help, specialk end to end,
// the Linux bridge's planning, the demo's parsing and summary.
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import assert from "node:assert/strict";
import {
  median,
  parseTick,
  summarise,
  summaryTable,
  type Tick,
} from "./commands/demo.ts";
import { setColour, stripAnsi, table } from "./output.ts";
import { buildProgram } from "./program.ts";
import {
  hostPathsForWine,
  planWindowsHalf,
  stripBridgeOptions,
  toWinePath,
} from "./wine_bridge.ts";
import { readPlugin } from "./specialk_ini.ts";
import { decodeIni } from "./specialk_encoding.ts";
import { runCli as cli, runProgram, sampleStats } from "./_test_utils.ts";
import { buildPe } from "../pe/_test_pe.ts";
import { withDir, withVars } from "../pe/_test_dir.ts";
import { craftPe, importsBody } from "../pe/_test_crafted.ts";

// A Wine prefix (--prefix, $WINEPREFIX) and WSL are the Linux CLI's:
// on Windows the game and Special K are found and run natively.
const LINUX_ONLY = Deno.build.os === "windows";
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/**
 * A stand-in wine (the shell `script`) in `dir`, with a prefix and a
 * Windows Deno file: what the Linux bridge needs to run it; `env` puts it
 * first on PATH.
 */
async function fakeWine(
  dir: string,
  script: string,
): Promise<{ prefix: string; env: Record<string, string> }> {
  await Deno.writeTextFile(`${dir}/wine`, script, { mode: 0o755 });
  const prefix = `${dir}/pfx`;
  await Deno.mkdir(prefix);
  await Deno.writeTextFile(`${prefix}/system.reg`, "");
  await Deno.writeTextFile(`${dir}/deno.exe`, "");
  const env = {
    PATH: `${dir}:${Deno.env.get("PATH")}`,
    HEAPSHIFT_WINDENO: `${dir}/deno.exe`,
  };
  return { prefix, env };
}

Deno.test("--help of every command has an example and exits 0", async () => {
  const top = await cli(["--help"]);
  assert.equal(top.code, 0);
  const commands = [
    "inject",
    "launch",
    "patch",
    "imports",
    "ps",
    "modules",
    "eject",
    "stats",
    "build-dll",
    "specialk",
    "doctor",
    "demo",
  ];
  for (const cmd of commands) {
    assert.match(top.stdout, new RegExp(`\\n  ${cmd} `));
  }
  for (const cmd of commands) {
    const r = await cli([cmd, "--help"]);
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, /Examples?:\n {2}\$ /, `${cmd} has an example`);
  }
});

Deno.test("README.md names every option of every command", async () => {
  // A newcomer learns the options from the README: one it never names is
  // one no one finds (specialk's --name and --create were).
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const unnamed = buildProgram(() => {}).commands.flatMap((c) =>
    c.options
      .map((o) => o.long!)
      .filter((long) => !new RegExp(`${long}(?![\\w-])`).test(readme))
      .map((long) => `${c.name()} ${long}`)
  );
  assert.deepEqual(unnamed, []);
});

Deno.test("usage errors exit 2 with a one-line reason", async () => {
  for (
    const args of [
      ["bogus"],
      ["inject"],
      ["modules", ""],
      ["eject", "", "x.dll"],
      ["stats", "C:\\games\\"],
      ["modules", "0"],
      ["eject", "12"],
      ["stats", "-5"],
      ["stats", "12", "--interval", "0"],
      ["stats", "12", "--interval", "2"], // without --watch
      ["stats", "12", "--count", "3"],
      ["inject", "game.exe", "--pid", "x"],
      ["specialk", "--when", "Sometimes"],
      ["specialk", "--ini", "a.ini", "--global"],
      ["specialk", "--game", ""],
      ["patch", "x.exe", "--inplace", "--out", "y.exe"],
      ["patch", "x.exe", "--dll", "a/b.dll"],
      ["patch", "x.exe", "--dll", ""],
      ["patch", "x.exe", "--postfix", "a\\b"],
      ["patch", "x.exe", "--postfix", "x".repeat(300)],
      ["patch", "x.exe", "--remove", "--dll", "a:b.dll"],
      ["inject", "12", "--dll", ""],
      ["launch", "x.exe", "--dll", ""],
      ["specialk", "--dll", ""],
      ["doctor", "--dll", ""],
      // Empty paths, as arguments and as options.
      ["patch", ""],
      ["patch", "x.exe", "-o", ""],
      ["imports", ""],
      ["launch", ""],
      ["launch", "x.exe", "--cwd", ""],
      ["doctor", ""],
      ["demo", "--sample", ""],
      ["specialk", "--ini", ""],
      ["specialk", "--sk-dir", ""],
      ["specialk", "--prefix", ""],
      ["ps", "--prefix", ""],
      // Empty names.
      ["eject", "12", ""],
      ["eject", "12", " "],
      ["ps", ""],
      ["ps", " "],
      // An option of the other half of patch.
      ["patch", "x.exe", "--allow-foreign"],
      ["patch", "x.exe", "--remove", "--allow-overlay"],
      // Both bridges at once, or a prefix name the environment cannot have.
      ["ps", "--prefix", "/p", "--wine-env", "x"],
      ["doctor", "--wine-env=x", "--prefix=/p"],
      ["demo", "--prefix", "/p", "--wine-env", "x"],
      ["ps", "--wine-env", "a b"],
      ["inject", "game.exe", "--wine-env", "../x"],
      ["doctor", "--wine-env", ""],
      // A count is a whole number the program can run.
      ["demo", "--threads", "2.5"],
      ["demo", "--threads", "17"],
      ["demo", "--threads", "0x2"],
      ["stats", "12", "--watch", "--count", "1.5"],
    ]
  ) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^error: .+\n/, args.join(" "));
    assert.equal(r.stdout, "");
  }
});

Deno.test("demo's thread limit is the sample's", async () => {
  const sample = await Deno.readTextFile(
    new URL("../demo/sample.c", import.meta.url),
  );
  const r = await cli(["demo", "--help"]);
  const max = /#define MAX_THREADS (\d+)/.exec(sample)?.[1];
  assert.ok(max);
  assert.match(
    r.stdout,
    new RegExp(`worker threads of the sample \\(1 to ${max}\\)`),
  );
  for (const bad of ["2.5", String(Number(max) + 1)]) {
    const refused = await cli(["demo", "--threads", bad]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(`expected a whole number from 1 to ${max}`),
    );
  }
});

Deno.test("stats: --count and --interval without --watch say what they need", async () => {
  for (const [flag, value] of [["--count", "3"], ["--interval", "2"]]) {
    const r = await cli(["stats", "12", flag, value]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `error: ${flag} applies with --watch: add --watch, or leave it out for one sample\n`,
    );
  }
});

Deno.test("--prefix with --wine-env, and a bad --wine-env name, say what is wrong (exit 2)", async () => {
  const both = await cli(["ps", "--prefix", "/p", "--wine-env", "x"]);
  assert.equal(both.code, 2, both.stderr);
  assert.match(
    both.stderr,
    /^error: option '--prefix <dir>' cannot be used with option '--wine-env <name>'\n/,
  );
  const bad = await cli(["stats", "12", "--wine-env", "a b"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(
    bad.stderr,
    /^error: option '--wine-env <name>' argument 'a b' is invalid\. expected a prefix name of letters, digits, '_', '\.' and '-', such as default\n/,
  );
});

// Both halves of the pair set one value: commander kept the last, so a
// script that added one to a command line holding the other got whichever
// came second, silently.
Deno.test("launch and inject refuse --error-dialogs with --no-error-dialogs (exit 2), naming both, before anything runs", async () => {
  for (
    const args of [
      ["launch", "x.exe", "--error-dialogs", "--no-error-dialogs"],
      ["launch", "--no-error-dialogs", "x.exe", "--error-dialogs"],
      ["inject", "game.exe", "--no-error-dialogs", "--error-dialogs"],
    ]
  ) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^error: option '--error-dialogs' cannot be used with option '--no-error-dialogs': give one, or neither for the program to inherit heapshift's error mode\n/,
      args.join(" "),
    );
    assert.equal(r.stdout, "");
  }
  // each alone is still taken
  const one = await cli(["launch", "x.exe", "--no-error-dialogs"]);
  assert.doesNotMatch(one.stderr, /cannot be used with/);
});

Deno.test({
  name:
    "--wine-env: a program launched to outlive the command, or waited for, is refused before anything runs (the environment stops its programs as the command ends)",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    // (before this was refused, it ran there: a prefix the suite may use)
    const env = ["--wine-env", Deno.env.get("HEAPSHIFT_WINE_PREFIX") ?? "cli"];
    const cases: [string[], RegExp][] = [
      // reported 'launched … (pid N)', exit 0, and the program was stopped
      // as the command returned
      [
        ["launch", "build/fixtures/cli_sample.exe", ...env],
        /^error: In the project's Wine environment \(--wine-env\) a program is stopped when the command that started it ends .*: add --wait-exit to run build\/fixtures\/cli_sample\.exe to its end, or use a Wine prefix of your own \(--prefix DIR\)\n$/,
      ],
      // an executable that is not running is launched, so likewise
      [
        ["inject", "cli.ts", ...env],
        /^error: In the project's Wine environment \(--wine-env\) a program is stopped when the command that started it ends .*: `inject` would launch cli\.ts and stop it; use `launch cli\.ts --wait-exit`, or a Wine prefix of your own \(--prefix DIR\)\n$/,
      ],
      // no other program can start there while this command runs
      [
        ["inject", "game.exe", "--wait", "5", ...env],
        /^error: In the project's Wine environment \(--wine-env\) .*: --wait would wait for nothing; use a Wine prefix of your own \(--prefix DIR\)\n$/,
      ],
    ];
    for (const [args, stderr] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, stderr, args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
  },
});

Deno.test("an empty process name or module says a name is expected", async () => {
  for (
    const [args, what] of [
      [["ps", ""], "name"],
      [["eject", "12", " "], "module"],
    ] as const
  ) {
    const r = await cli([...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `error: command-argument value '${
        args.at(-1)
      }' is invalid for argument '${what}'. expected a name\n(run with --help for usage)\n`,
    );
  }
});

Deno.test("commander's usage errors show the user's own text escaped as shown() does (a name pasted with an escape sequence or a bidi control), its suggestion still on a line of its own", async () => {
  const help = "(run with --help for usage)\n";
  for (
    const [args, stderr] of [
      // unknown command, unknown option
      [["bogus\x1b[2J"], "error: unknown command 'bogus\\x1b[2J'\n"],
      [
        ["patch", "x.exe", "--lst\u202e"],
        "error: unknown option '--lst\\u202e'\n(Did you mean --list?)\n",
      ],
      // a line break of the user's cannot start a line of its own
      [
        ["ps", "--x\n(Did you mean --json?)"],
        "error: unknown option '--x\\x0a(Did you mean --json?)'\n",
      ],
      // excess arguments
      [
        ["ps", "a", "b\x9b2J"],
        "error: too many arguments for 'ps'. Expected 1 argument but got 2: a, b\\x9b2J.\n",
      ],
      // an argument or an option's value the parser refused
      [
        ["ps", "\u2028"],
        "error: command-argument value '\\u2028' is invalid for argument 'name'. expected a name\n",
      ],
      [
        ["inject", "game.exe", "--pid", "1\x1b]0;x\x07"],
        "error: option '--pid <pid>' argument '1\\x1b]0;x\\x07' is invalid. expected a process id (a positive integer)\n",
      ],
    ] as const
  ) {
    const r = await cli([...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, stderr + help, JSON.stringify(args));
    assert.equal(r.stdout, "");
  }
});

Deno.test("no arguments: the help on stderr, exit 2 (a usage error)", async () => {
  const r = await cli([]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^Usage: heapshift /);
  assert.match(r.stderr, /\n {2}inject /);
  const help = await cli(["help"]);
  assert.equal(help.code, 0, "asking for help is not an error");
  assert.match(help.stdout, /^Usage: heapshift /);
});

Deno.test("--version prints deno.json's version", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const r = await cli(["--version"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), config.version);
});

Deno.test("failures exit 1 with a one-line reason", async () => {
  const r = await cli(["imports", "/nonexistent/game.exe"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /^error: /);
  const notPe = await cli(["imports", CLI]);
  assert.equal(notPe.code, 1);
  assert.match(notPe.stderr, /^error: /);
});

Deno.test("specialk edits a sample ini end to end, --json parsed back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}/SpecialK.ini`;
    await Deno.copyFile(
      new URL("../tests/fixtures/cli_specialk.ini", import.meta.url),
      ini,
    );
    const dll = `${dir}/heapshift.dll`;
    await Deno.writeFile(dll, buildPe({ dll: true }));
    const r = await cli(["specialk", "--ini", ini, "--dll", dll, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.action, "added");
    assert.equal(j.path, ini);
    assert.equal(j.backup, `${ini}.heapshift-backup`);
    const entry = readPlugin(
      decodeIni(await Deno.readFile(ini)).text,
      "heapshift",
    );
    assert.deepEqual(entry, {
      Architecture: "x64",
      Role: "ThirdParty",
      When: "Early",
      Filename: toWinePath(dll),
    });
    const again = await cli(["specialk", "--ini", ini, "--dll", dll]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already up to date/);
    // The 32-bit DLL gets an entry of its own beside the 64-bit one, and
    // the backup stays the file as it was before heapshift.
    const dll32 = `${dir}/heapshift32.dll`;
    await Deno.writeFile(dll32, buildPe({ format: "PE32", dll: true }));
    const x86 = await cli([
      "specialk",
      "--ini",
      ini,
      "--dll",
      dll32,
      "--arch",
      "x86",
      "--json",
    ]);
    assert.equal(x86.code, 0, x86.stderr);
    const text = decodeIni(await Deno.readFile(ini)).text;
    assert.equal(readPlugin(text, "heapshift")?.Architecture, "x64");
    assert.equal(readPlugin(text, "heapshift32")?.Architecture, "Win32");
    assert.deepEqual(
      await Deno.readFile(`${ini}.heapshift-backup`),
      await Deno.readFile(
        new URL("../tests/fixtures/cli_specialk.ini", import.meta.url),
      ),
    );
    const rm32 = await cli([
      "specialk",
      "--ini",
      ini,
      "--remove",
      "--arch",
      "x86",
    ]);
    assert.equal(rm32.code, 0, rm32.stderr);
    const rm = await cli(["specialk", "--ini", ini, "--remove", "--json"]);
    assert.equal(JSON.parse(rm.stdout).action, "removed");
    const missing = await cli([
      "specialk",
      "--ini",
      `${dir}/nope.ini`,
      "--dll",
      dll,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--create/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("specialk refuses a bad --name (2) and a binary ini (1), leaving the file as it was", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}/SpecialK.ini`;
    const dll = `${dir}/heapshift.dll`;
    await Deno.writeFile(dll, buildPe({ dll: true }));
    await Deno.writeTextFile(ini, "[A]\r\nk=1\r\n");
    const bad = await cli([
      "specialk",
      "--ini",
      ini,
      "--dll",
      dll,
      "--name",
      "heapshift\r\n[Evil]",
    ]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^error: --name: .*\n$/);
    assert.equal(bad.stderr.split("\n").length, 2, "one line");
    assert.equal(await Deno.readTextFile(ini), "[A]\r\nk=1\r\n");

    const binary = new Uint8Array(4096).map((_, i) => (i * 7919) & 0xff);
    await Deno.writeFile(ini, binary);
    const refused = await cli(["specialk", "--ini", ini, "--dll", dll]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^error: Cannot edit .*not a text file/);
    assert.deepEqual(await Deno.readFile(ini), binary);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["SpecialK.ini", "heapshift.dll"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The ini and its backup are written through temporary files whose names
// are 14 longer: a name too long for them was refused in the system's words
// (Linux "file name too long") or pe/'s advice for a name never given.
Deno.test("specialk refuses, before writing anything, an ini whose backup's name or own name is too long to write, saying what to do; an edit with nothing to write is not refused", async () => {
  await withDir(async (dir) => {
    // counted in UTF-16 units on Windows (the Windows Deno under Wine too)
    const unit = Deno.build.os === "windows" ? "characters" : "bytes";
    const why = (length: number) =>
      `its name is ${length} ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have`;
    const dll = `${dir}/heapshift.dll`;
    await Deno.writeFile(dll, buildPe({ dll: true }));
    const sample = new URL(
      "../tests/fixtures/cli_specialk.ini",
      import.meta.url,
    );
    const ini = (length: number) => `${dir}/${"s".repeat(length - 4)}.ini`;
    const files = () => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const refused = async (args: string[], code: number, message: string) => {
      const before = files();
      const r = await cli(["specialk", ...args]);
      assert.equal(r.code, code, r.stdout + r.stderr);
      assert.equal(r.stderr, `error: ${message}\n`);
      assert.deepEqual(files(), before);
    };
    // 225: its backup, .heapshift-backup (17 longer), is 242
    const long = ini(225);
    await Deno.copyFile(sample, long);
    const text = await Deno.readFile(long);
    await refused(
      ["--ini", long, "--dll", dll],
      1,
      `Cannot edit ${long}: its backup ${long}.heapshift-backup: ${
        why(242)
      }: rename the ini to a name of at most 224 ${unit}; nothing was written`,
    );
    assert.deepEqual(await Deno.readFile(long), text);
    // nothing to remove, nothing written: not refused
    const rm = await cli(["specialk", "--ini", long, "--remove"]);
    assert.equal(rm.code, 0, rm.stdout + rm.stderr);
    assert.match(rm.stdout, /is not in .*: nothing to remove/);
    // 224: written, and its backup
    const fits = ini(224);
    await Deno.copyFile(sample, fits);
    const ok = await cli(["specialk", "--ini", fits, "--dll", dll]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.ok(files().includes(`${"s".repeat(220)}.ini.heapshift-backup`));
    // created (no backup): its own name counts
    const made = ini(242);
    await refused(
      ["--ini", made, "--dll", dll, "--create"],
      1,
      `Cannot edit ${made}: ${
        why(242)
      }: choose a name of at most 241 ${unit}; nothing was written`,
    );
    const created = await cli([
      "specialk",
      "--ini",
      ini(241),
      "--dll",
      dll,
      "--create",
    ]);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    // over 255: no file can have the name
    const over = ini(256);
    await refused(
      ["--ini", over, "--dll", dll, "--create"],
      2,
      `--ini ${over}: ${why(256)}: choose a name of at most 241 ${unit}`,
    );
  });
});

Deno.test("specialk registers only a DLL of the game's bitness: anything else is refused, the ini unchanged", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ini = `${dir}/SpecialK.ini`;
    const text = "[A]\r\nk=1\r\n";
    await Deno.writeTextFile(ini, text);
    const exe = `${dir}/game.exe`;
    const notPe = `${dir}/notpe.dll`;
    await Deno.writeFile(exe, buildPe());
    await Deno.writeTextFile(notPe, "MZ, but only text after it".repeat(10));
    const cases: [string, RegExp][] = [
      [
        exe,
        /^error: .*game\.exe is not a DLL: --dll takes the hook DLL, heapshift\.dll\n$/,
      ],
      [
        notPe,
        /^error: .*notpe\.dll: IMAGE_DOS_HEADER.*: --dll takes the hook DLL, heapshift\.dll\n$/,
      ],
    ];
    for (const [dll, stderr] of cases) {
      const r = await cli(["specialk", "--ini", ini, "--dll", dll]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, stderr);
      assert.equal(await Deno.readTextFile(ini), text, "the ini is unchanged");
    }
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["SpecialK.ini", "game.exe", "notpe.dll"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("specialk --global without Special K's Global folder: created to add, nothing to remove", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sk = `${dir}/Special K`;
    await Deno.mkdir(`${sk}/Profiles`, { recursive: true });
    const dll = `${dir}/heapshift.dll`;
    await Deno.writeFile(dll, buildPe({ dll: true }));
    // as the CLI names it: joined with the system's separator
    const ini = join(sk, "Global", "default_SpecialK.ini");
    const rm = await cli(["specialk", "--sk-dir", sk, "--remove"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(
      rm.stdout,
      `[Import.heapshift] is not in ${ini}: nothing to remove\n`,
    );
    assert.deepEqual([...Deno.readDirSync(sk)].map((e) => e.name), [
      "Profiles",
    ]);
    const add = await cli([
      "specialk",
      "--sk-dir",
      sk,
      "--global",
      "--dll",
      dll,
      "--json",
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.deepEqual(
      [JSON.parse(add.stdout).action, JSON.parse(add.stdout).created],
      ["added", true],
    );
    assert.equal(
      readPlugin(decodeIni(await Deno.readFile(ini)).text, "heapshift")
        ?.Filename,
      toWinePath(dll),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("specialk --global --remove names the game profiles that copied the entry from the defaults", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sk = `${dir}/Special K`;
    await Deno.mkdir(`${sk}/Profiles`, { recursive: true });
    const dll = `${dir}/heapshift.dll`;
    await Deno.writeFile(dll, buildPe({ dll: true }));
    const add = await cli(["specialk", "--sk-dir", sk, "--dll", dll]);
    assert.equal(add.code, 0, add.stderr);
    // Special K writes a new game's profile from the defaults: a copy
    const global = await Deno.readFile(`${sk}/Global/default_SpecialK.ini`);
    for (const game of ["Game A", "Game B", "Game C"]) {
      await Deno.mkdir(`${sk}/Profiles/${game}`, { recursive: true });
    }
    await Deno.writeFile(`${sk}/Profiles/Game A/SpecialK.ini`, global);
    await Deno.writeFile(`${sk}/Profiles/Game C/SpecialK.ini`, global);
    await Deno.writeTextFile(
      `${sk}/Profiles/Game B/SpecialK.ini`,
      "[SpecialK.System]\nShowEULA=false\n",
    );
    const rm = await cli(["specialk", "--sk-dir", sk, "--remove"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /removed \[Import\.heapshift\]/);
    assert.match(
      rm.stdout,
      /still in the profiles of Game A, Game C\b.*--game NAME --remove/,
    );
    const json = await cli(["specialk", "--sk-dir", sk, "--remove", "--json"]);
    assert.deepEqual(JSON.parse(json.stdout).profilesWithEntry, [
      "Game A",
      "Game C",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("specialk --sk-dir of a folder that is not Special K's is refused, nothing created in it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dll = `${dir}/heapshift.dll`;
    await Deno.writeFile(dll, buildPe({ dll: true }));
    const notSk = `${dir}/Downloads`;
    await Deno.mkdir(notSk);
    await Deno.writeTextFile(`${notSk}/readme.txt`, "hi");
    const r = await cli(["specialk", "--sk-dir", notSk, "--dll", dll]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stderr,
      /^error: .*Downloads is not Special K's folder \(it has none of SpecialK64\.dll, SpecialK32\.dll, Profiles, Global\)/,
    );
    assert.deepEqual([...Deno.readDirSync(notSk)].map((e) => e.name), [
      "readme.txt",
    ]);
    // One with just its DLLs (no game started yet) is.
    await Deno.writeFile(`${notSk}/SpecialK64.dll`, new Uint8Array(2));
    const ok = await cli(["specialk", "--sk-dir", notSk, "--dll", dll]);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "specialk in the $WINEPREFIX names a DLL inside the prefix by its C: path, as with --prefix",
  { ignore: LINUX_ONLY },
  async () => {
    const prefix = await Deno.makeTempDir();
    try {
      const sk =
        `${prefix}/drive_c/users/steamuser/AppData/Local/Programs/Special K`;
      await Deno.mkdir(`${sk}/Profiles/Game`, { recursive: true });
      await Deno.writeTextFile(
        `${sk}/Profiles/Game/SpecialK.ini`,
        "[A]\nk=1\n",
      );
      await Deno.mkdir(`${prefix}/drive_c/tools`);
      const dll = `${prefix}/drive_c/tools/heapshift.dll`;
      await Deno.writeFile(dll, buildPe({ dll: true }));
      for (
        const [how, args, env] of [
          ["--prefix", ["--prefix", prefix], {}],
          ["$WINEPREFIX", [], { WINEPREFIX: prefix }],
        ] as const
      ) {
        const r = await cli(
          ["specialk", "--game", "Game", "--dll", dll, ...args],
          env,
        );
        assert.equal(r.code, 0, `${how}: ${r.stderr}`);
        assert.equal(
          readPlugin(
            await Deno.readTextFile(`${sk}/Profiles/Game/SpecialK.ini`),
            "heapshift",
          )?.Filename,
          "C:\\tools\\heapshift.dll",
          how,
        );
        await cli(["specialk", "--game", "Game", "--remove", ...args], env);
      }
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
);

Deno.test(
  "specialk under WSL without a Wine prefix is refused: the game runs on Windows, which cannot load a Z: path",
  { ignore: LINUX_ONLY },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const ini = `${dir}/SpecialK.ini`;
      await Deno.writeTextFile(ini, "[A]\nk=1\n");
      const dll = `${dir}/heapshift.dll`;
      await Deno.writeFile(dll, buildPe({ dll: true }));
      const r = await cli(["specialk", "--ini", ini, "--dll", dll], {
        WSL_DISTRO_NAME: "Ubuntu",
      });
      assert.equal(r.code, 1, r.stdout);
      assert.match(
        r.stderr,
        /^error: .*WSL.*run heapshift on Windows.*--prefix/,
      );
      assert.equal(await Deno.readTextFile(ini), "[A]\nk=1\n");
      // a Wine prefix under WSL is Wine's: Z: is right there
      await Deno.writeTextFile(`${dir}/system.reg`, "");
      const wine = await cli(
        ["specialk", "--ini", ini, "--dll", dll, "--prefix", dir],
        { WSL_DISTRO_NAME: "Ubuntu" },
      );
      assert.equal(wine.code, 0, wine.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "specialk --remove under WSL warns that a game running on Windows is not seen (its Special K would write the ini back)",
  { ignore: LINUX_ONLY },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const ini = `${dir}/Special K/Profiles/Game/SpecialK.ini`;
      await Deno.mkdir(`${dir}/Special K/Profiles/Game`, { recursive: true });
      await Deno.writeTextFile(ini, "[A]\nk=1\n");
      const wsl = await cli(["specialk", "--ini", ini, "--remove"], {
        WSL_DISTRO_NAME: "Ubuntu",
      });
      assert.equal(wsl.code, 0, wsl.stderr);
      assert.match(
        wsl.stderr,
        /^warning: from WSL heapshift cannot see the programs running on Windows: .*if one runs, close the game, then run this again/,
      );
      // not for a game under Wine (--prefix), nor with --force
      await Deno.writeTextFile(`${dir}/system.reg`, "");
      for (const more of [["--prefix", dir], ["--force"]]) {
        const r = await cli(["specialk", "--ini", ini, "--remove", ...more], {
          WSL_DISTRO_NAME: "Ubuntu",
        });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "", more.join(" "));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("the Linux bridge strips its options and says what is missing", async () => {
  assert.deepEqual(
    stripBridgeOptions([
      "ps",
      "--prefix",
      "/p",
      "--json",
      "--wine-env=x",
      "--",
      "--prefix",
    ]),
    ["ps", "--json", "--", "--prefix"],
  );
  assert.equal(
    toWinePath("/work/main/build/heapshift.dll"),
    "Z:\\work\\main\\build\\heapshift.dll",
  );
  assert.equal(
    toWinePath("/pfx/drive_c/games/x.exe", "/pfx"),
    "C:\\games\\x.exe",
  );
  const env = await planWindowsHalf(["ps"], { wineEnv: "cli" });
  assert.equal(env.mode, "env");
  assert.equal(env.argv[0], "windeno");
  assert.ok(env.argv.includes("ps"));
  if (Deno.build.os !== "windows") {
    const path = Deno.env.get("PATH");
    try {
      Deno.env.set("PATH", "/nonexistent");
      await assert.rejects(
        () => planWindowsHalf(["ps"], { prefix: "/tmp" }),
        /install Wine 10/,
      );
    } finally {
      Deno.env.set("PATH", path ?? "");
    }
  }
});

Deno.test({
  name: "on Linux, Windows commands run through wine in the given prefix",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // A stand-in for wine that records how it was called.
      const log = `${dir}/wine.log`;
      const { prefix, env } = await fakeWine(
        dir,
        `#!/bin/sh\necho "WINEPREFIX=$WINEPREFIX" > '${log}'\nfor a in "$@"; do printf '%s\\n' "$a" >> '${log}'; done\nexit 7\n`,
      );
      const r = await cli([
        "stats",
        "42",
        "--watch",
        "--prefix",
        prefix,
        "--json",
      ], env);
      assert.equal(r.code, 7, "the Windows half's exit code is the CLI's");
      const lines = (await Deno.readTextFile(log)).trim().split("\n");
      assert.deepEqual(lines, [
        `WINEPREFIX=${prefix}`,
        `${dir}/deno.exe`,
        "run",
        "-A",
        toWinePath(CLI),
        "stats",
        "42",
        "--watch",
        "--json",
      ]);
      // A missing prefix or Windows Deno is named plainly.
      const noPfx = await cli(["ps", "--prefix", `${dir}/nope`], env);
      assert.equal(noPfx.code, 1);
      assert.match(noPfx.stderr, /No Wine prefix at/);
      const noDeno = await cli(["ps", "--prefix", prefix], {
        ...env,
        HEAPSHIFT_WINDENO: `${dir}/missing.exe`,
        XDG_CACHE_HOME: dir,
        DENO_DIR: Deno.env.get("DENO_DIR") ??
          `${Deno.env.get("HOME")}/.cache/deno`,
      });
      assert.equal(noDeno.code, 1);
      assert.match(noDeno.stderr, /Windows build of Deno/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "--wine-env: every path a command is given is checked against what the environment sees, before anything runs",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const root = Deno.realPathSync(new URL("..", import.meta.url));
    try {
      const exe = `${dir}/prog.exe`;
      const dll = `${dir}/h.dll`;
      await Deno.writeFile(exe, new Uint8Array([0x4d, 0x5a]));
      await Deno.writeFile(dll, new Uint8Array([0x4d, 0x5a]));
      const run = (args: string[], cwd = root) =>
        runProgram(Deno.execPath(), ["run", "-A", CLI, ...args], {
          cwd,
          env: { NO_COLOR: "1" },
        });
      const outside = (what: string, next: string) =>
        `error: Cannot use ${what} in the project's Wine environment: it sees only the checkout, ${root}; ${next}, or use your own Wine prefix (--prefix DIR)\n`;
      const file = (path: string) => outside(path, "copy the file under it");
      const env = ["--wine-env", "cli"];
      const cases: [string[], string][] = [
        [["doctor", exe, ...env], file(exe)],
        [["doctor", "--dll", dll, ...env], file(dll)],
        // (an inject target that is a file is refused as launched there)
        [["inject", "game.exe", "--dll", dll, ...env], file(dll)],
        [
          ["launch", "cli.ts", "--wait-exit", "--cwd", dir, ...env],
          outside(
            `the directory ${dir}`,
            "use one under it",
          ),
        ],
        [["demo", "--sample", exe, ...env], file(exe)],
        [["demo", "--dll", dll, ...env], file(dll)],
        // without a bridge the demo runs in the environment too
        [["demo", "--sample", exe], file(exe)],
      ];
      for (const [args, stderr] of cases) {
        const r = await run(args);
        assert.deepEqual(
          [r.code, r.stderr, r.stdout],
          [1, stderr, ""],
          args.join(" "),
        );
      }
      // From a directory outside the checkout, a relative path cannot be
      // read there either.
      const r = await run(["doctor", "prog.exe", ...env], dir);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        r.stderr,
        `error: Cannot run in the project's Wine environment from ${dir}: it sees only the checkout, ${root}; run the command from inside it, or use your own Wine prefix (--prefix DIR)\n`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the demo parses the sample's lines and summarises them", () => {
  assert.equal(parseTick("ready 12"), undefined);
  assert.deepEqual(
    parseTick(
      "tick t=533 ops=151552 rate=284338 live=19998 old=19998 hooked=0 corrupt=0\r",
    ),
    {
      t: 533,
      ops: 151552,
      rate: 284338,
      live: 19998,
      old: 19998,
      hooked: false,
      corrupt: 0,
    },
  );
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  const ticks: Tick[] = [];
  for (let i = 1; i <= 16; i++) {
    const after = i > 8;
    ticks.push({
      t: i * 500,
      ops: 0,
      rate: after ? 300 : 100,
      live: 1000,
      old: after ? 1000 >> (i - 8) : 1000,
      hooked: after,
      corrupt: 0,
    });
  }
  const s = summarise(7, ticks, 4000, sampleStats());
  assert.equal(s.before.rate, 100);
  assert.equal(s.after?.rate, 300);
  assert.equal(s.speedup, 3);
  assert.equal(s.after?.old, 3);
  assert.equal(s.after?.migrations, 500);
  assert.ok(s.drained! > 0.99);
  setColour(false);
  const text = summaryTable(s);
  assert.match(
    text,
    /throughput \(median\)\s+100 ops\/s\s+300 ops\/s\s+3\.00×/,
  );
  assert.match(text, /migrations \(realloc\)\s+500/);
  // A few old blocks left is not all drained: the share is not rounded up
  // to 100.0% (seen: 6 of 50,000 left read '100.0% drained')
  const some = (left: number) =>
    summaryTable({
      ...s,
      before: { ...s.before, old: 50_000 },
      after: { ...s.after!, old: left },
      drained: 1 - left / 50_000,
    });
  assert.match(some(6), /old-heap blocks live\s+50,000\s+6\s+99\.9% drained/);
  assert.match(some(0), /\s0\s+100\.0% drained/);
  const before = summarise(7, ticks.slice(0, 8), undefined);
  assert.equal(before.after, undefined);
  assert.match(summaryTable(before), /—/);
  setColour(undefined);
});

Deno.test("tables align, ignoring colour codes", () => {
  setColour(true);
  const t = table([{ header: "A" }, { header: "N", align: "right" }], [
    ["\x1b[32mxx\x1b[0m", "1"],
    ["y", "100"],
  ]);
  setColour(undefined);
  const lines = stripAnsi(t).split("\n");
  assert.deepEqual(lines, ["A     N", "xx    1", "y   100"]);
});

Deno.test(
  "--prefix: host paths before -- reach the Windows half as Wine paths",
  { ignore: LINUX_ONLY },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const prefix = `${dir}/pfx`;
      await Deno.mkdir(`${prefix}/drive_c/games`, { recursive: true });
      const game = `${prefix}/drive_c/games/game.exe`;
      const dll = `${dir}/heapshift.dll`;
      await Deno.writeTextFile(game, "");
      await Deno.writeTextFile(dll, "");
      assert.deepEqual(
        hostPathsForWine(
          [
            "inject",
            game,
            "--dll",
            dll,
            `--cwd=${dir}`,
            "name.exe",
            "/no/such",
          ],
          prefix,
        ),
        [
          "inject",
          "C:\\games\\game.exe",
          "--dll",
          toWinePath(dll),
          `--cwd=${toWinePath(dir)}`,
          "name.exe",
          "/no/such", // not a file here: as given
        ],
      );
      // after --: the program's own arguments, untouched
      assert.deepEqual(
        hostPathsForWine(["launch", "a.exe", "--", dll], prefix),
        [
          "launch",
          "a.exe",
          "--",
          dll,
        ],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test({
  name: "colour on stderr only when stderr is a terminal, whatever stdout is",
  // `script` runs the CLI on a pseudo-terminal (util-linux).
  ignore: Deno.build.os === "windows" ||
    !(await new Deno.Command("sh", { args: ["-c", "command -v script"] })
      .output()).success,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const cmd = `${Deno.execPath()} run -A ${CLI} imports ${dir}/none.exe`;
      const onTerminal = (redirect: string) =>
        new Deno.Command("script", {
          args: ["-qec", `${cmd} ${redirect}`, "/dev/null"],
          env: { NO_COLOR: "" },
          stdin: "null",
        }).output();
      // stdout on the terminal, stderr to a file: no colour in the file.
      await onTerminal(`2>${dir}/err`);
      assert.equal(
        await Deno.readTextFile(`${dir}/err`),
        `error: Cannot read ${dir}/none.exe: no such file\n`,
      );
      // stderr on the terminal: colour there.
      const r = await onTerminal(`>${dir}/out`);
      assert.ok(
        new TextDecoder().decode(r.stdout).includes("\x1b[31merror:"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// Debian 12's wine is 8.0, under which the Windows Deno dies at its start
// (V8's "Fatal process out of memory"): said before it is run, as doctor
// says it, not left to that crash.
Deno.test({
  name:
    "on Linux, a wine older than 10 is refused before the Windows half runs, naming its version",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withVars(["WINE"], async (dir) => {
      const ran = `${dir}/ran`;
      const fake = await fakeWine(
        dir,
        `#!/bin/sh\nif [ "$1" = --version ]; then echo wine-8.0; exit 0; fi\ntouch '${ran}'\nexit 7\n`,
      );
      const { prefix } = fake;
      const env = { ...fake.env, WINE: "" };
      const r = await cli(["ps", "--prefix", prefix], env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`^error: ${dir}/wine is wine-8\\.0: .*Wine 10 or newer`),
      );
      assert.doesNotMatch(r.stderr, /apt-get install wine\b/);
      assert.equal(await Deno.stat(ran).then(() => true, () => false), false);
      // A wine that says no version (a wrapper) is run, as before.
      await Deno.writeTextFile(`${dir}/wine`, `#!/bin/sh\nexit 7\n`);
      assert.equal((await cli(["ps", "--prefix", prefix], env)).code, 7);
      // So is one that does not answer within 15 s: it must not hang us.
      await Deno.writeTextFile(
        `${dir}/wine`,
        `#!/bin/sh\nif [ "$1" = --version ]; then exec sleep 60; fi\nexit 7\n`,
      );
      const t0 = Date.now();
      assert.equal((await cli(["ps", "--prefix", prefix], env)).code, 7);
      assert.ok(Date.now() - t0 < 40_000, `${Date.now() - t0} ms`);
    }),
});

Deno.test({
  name:
    "on Linux, a HEAPSHIFT_WINDENO that names no file is an error naming it, not a silent fall back to the cached Windows Deno",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withVars(["WINE", "HEAPSHIFT_WINDENO", "XDG_CACHE_HOME"], async (dir) => {
      const prefix = `${dir}/pfx`;
      await Deno.mkdir(prefix);
      await Deno.writeTextFile(`${prefix}/system.reg`, "");
      // The provisioned environment's deno.exe is there...
      await Deno.mkdir(`${dir}/heapshift/deno-win`, { recursive: true });
      await Deno.writeTextFile(`${dir}/heapshift/deno-win/deno.exe`, "");
      Deno.env.set("XDG_CACHE_HOME", dir);
      Deno.env.set("WINE", "/bin/true");
      const plan = await planWindowsHalf(["ps"], { prefix });
      assert.equal(plan.argv[1], `${dir}/heapshift/deno-win/deno.exe`);
      // ...but the user asked for another one.
      Deno.env.set("HEAPSHIFT_WINDENO", `${dir}/mine/deno.exe`);
      await assert.rejects(
        () => planWindowsHalf(["ps"], { prefix }),
        (e: unknown) =>
          e instanceof Error &&
          e.message.includes(
            `HEAPSHIFT_WINDENO names ${dir}/mine/deno.exe, which is not a file`,
          ),
      );
    }),
});

Deno.test({
  name:
    "on Linux, $WINE is a path or a command on PATH; one that names nothing is an error naming $WINE, and an empty one is unset",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withVars(["WINE", "HEAPSHIFT_WINDENO", "PATH"], async (dir) => {
      const prefix = `${dir}/pfx`;
      await Deno.mkdir(prefix);
      await Deno.writeTextFile(`${prefix}/system.reg`, "");
      await Deno.writeTextFile(`${dir}/deno.exe`, "");
      await Deno.writeTextFile(`${dir}/wine`, "#!/bin/sh\n", { mode: 0o755 });
      await Deno.writeTextFile(`${dir}/wine-staging`, "#!/bin/sh\n", {
        mode: 0o755,
      });
      Deno.env.set("HEAPSHIFT_WINDENO", `${dir}/deno.exe`);
      Deno.env.set("PATH", dir);
      Deno.env.set("WINE", "");
      assert.equal(
        (await planWindowsHalf(["ps"], { prefix })).argv[0],
        `${dir}/wine`,
      );
      Deno.env.set("WINE", "wine-staging");
      assert.equal(
        (await planWindowsHalf(["ps"], { prefix })).argv[0],
        `${dir}/wine-staging`,
      );
      for (const wine of [`${dir}/nope/wine`, "no-such-wine"]) {
        Deno.env.set("WINE", wine);
        await assert.rejects(
          () => planWindowsHalf(["ps"], { prefix }),
          (e: unknown) =>
            e instanceof Error &&
            e.message.startsWith(`$WINE names ${wine}, which `),
          wine,
        );
      }
    }),
});

Deno.test("--help of every command acting on a process says it takes a pid, a name or the path of its executable (README: the command line)", async () => {
  for (const cmd of ["inject", "modules", "eject", "stats"]) {
    const r = await cli([cmd, "--help"]);
    assert.equal(r.code, 0);
    assert.match(
      r.stdout.replace(/\s+/g, " "),
      /pid, process name \(game\.exe\) or path of (its|an) executable/,
      cmd,
    );
  }
});

Deno.test(
  "specialk --game looks for the profile in every Special K install found, in order, not only the first",
  { ignore: LINUX_ONLY },
  async () => {
    const prefix = await Deno.makeTempDir();
    try {
      const user = `${prefix}/drive_c/users/me`;
      // SKIF's install, and an older one in Documents (a local copy's
      // central profiles)
      const skif = `${user}/AppData/Local/Programs/Special K`;
      const docs = `${user}/Documents/My Mods/SpecialK`;
      for (const [sk, game] of [[skif, "New Game"], [docs, "Old Game"]]) {
        await Deno.mkdir(`${sk}/Profiles/${game}`, { recursive: true });
        await Deno.writeTextFile(
          `${sk}/Profiles/${game}/SpecialK.ini`,
          "[SpecialK.System]\n",
        );
      }
      const remove = (game: string) =>
        cli([
          "specialk",
          "--prefix",
          prefix,
          "--game",
          game,
          "--remove",
          "--json",
        ]);
      const old = await remove("old game");
      assert.equal(old.code, 0, old.stderr);
      assert.equal(
        JSON.parse(old.stdout).path,
        `${docs}/Profiles/Old Game/SpecialK.ini`,
      );
      const none = await remove("Nope");
      assert.equal(none.code, 1);
      assert.match(
        none.stderr,
        /Special K has no profile for Nope in .*Special K\/Profiles or .*SpecialK\/Profiles .*; profiles: New Game, Old Game$/m,
      );
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
);

/**
 * `dir/crafted.exe`, importing the function `name` from `evil\x9b2J.dll`:
 * 0x9b is CSI to a terminal that reads C1 controls; 0x1b cannot be in a
 * name (pe/ refuses C0), 0x80-0x9f can (cp1252 bytes).
 */
async function craftedExe(dir: string, name: string): Promise<string> {
  const exe = `${dir}/crafted.exe`;
  await Deno.writeFile(
    exe,
    craftPe({
      body: importsBody({ dll: "evil\x9b2J.dll", dlls: 1, thunks: 1, name }),
    }),
  );
  return exe;
}

Deno.test("imports shows control characters in a file's names escaped, so a crafted executable cannot drive the terminal", async () => {
  await withDir(async (dir) => {
    const exe = await craftedExe(dir, "f\x9d0;x\x9c");
    const r = await cli(["imports", "-s", exe]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /[\x80-\x9f]/);
    assert.match(r.stdout, /^evil\\x9b2J\.dll$/m);
    assert.match(r.stdout, /^ {2}f\\x9d0;x\\x9c$/m);
  });
});

Deno.test("an error naming a file shows the characters shown() escapes escaped, on one line: a name cannot reverse the message nor cut it short", async () => {
  await withDir(async (dir) => {
    const exe = `${dir}/a\u202eexe.txt\nb`;
    const r = await cli(["imports", exe]);
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\u202e/);
    // Windows refuses a line break in a name ("invalid name.", shown
    // without Windows' full stop)
    const why = Deno.build.os === "windows" ? "invalid name" : "no such file";
    assert.match(
      r.stderr,
      new RegExp(
        String.raw`^error: Cannot read .*a\\u202eexe\.txt\\x0ab: ${why}\n$`,
      ),
    );
  });
});

Deno.test("patch --list and specialk show the names they print from files and folders escaped (a crafted import, a profile folder named with U+202E)", async () => {
  await withDir(async (dir) => {
    const exe = await craftedExe(dir, "f");
    const list = await cli(["patch", "--list", exe]);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /[\x80-\x9f]/);
    assert.match(list.stdout, /imports .*evil\\x9b2J\.dll/);

    const sk = `${dir}/Special\u202eK`;
    await Deno.mkdir(`${sk}/Profiles/Game\u202eA`, { recursive: true });
    const dll = `${dir}/heapshift.dll`;
    await Deno.writeFile(dll, buildPe({ dll: true }));
    const add = await cli(["specialk", "--sk-dir", sk, "--dll", dll]);
    assert.equal(add.code, 0, add.stderr);
    assert.doesNotMatch(add.stdout, /\u202e/);
    assert.match(add.stdout, /Special\\u202eK/);
    await Deno.copyFile(
      `${sk}/Global/default_SpecialK.ini`,
      `${sk}/Profiles/Game\u202eA/SpecialK.ini`,
    );
    const rm = await cli(["specialk", "--sk-dir", sk, "--remove"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.doesNotMatch(rm.stdout, /\u202e/);
    assert.match(rm.stdout, /still in the profiles of Game\\u202eA\b/);
  });
});
