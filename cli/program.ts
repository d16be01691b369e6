/**
 * The `heapshift` command line: every command, built with commander.
 * cli.ts runs {@linkcode main}; tests call it in-process too.
 *
 * @module
 */

import {
  Command,
  CommanderError,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { doctorCommand } from "./commands/doctor.ts";
import {
  imports as peImports,
  patchImports,
  PeError,
  removeImport,
} from "../pe/mod.ts";
import {
  c,
  CliError,
  count,
  hex,
  printJson,
  table,
  toJson,
  UsageError,
} from "./output.ts";
import {
  checkDllName,
  example,
  forward,
  parsePath,
  parsePid,
  PREFIX_HELP,
  setCurrentArgs,
  WINE_ENV_HELP,
} from "./args.ts";
import {
  buildDll,
  dllForTarget,
  fileArch,
  HOOK_DLL,
  resolveDll,
} from "./dll.ts";
import { baseName, isFile } from "../src/_paths.ts";
import {
  parseProcessArg,
  pickProcess,
  PID_HELP,
  PROCESS_HELP,
  targetPid,
} from "./process_arg.ts";
import { specialkCommand } from "./commands/specialk.ts";
import { statsCommand } from "./commands/stats.ts";
import { demoCommand } from "./commands/demo.ts";

/** The CLI's version (deno.json's). */
export const VERSION = "0.1.0";

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError("expected a number of seconds > 0");
  }
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

async function doInject(
  target: string,
  opts: {
    pid?: number;
    wait?: number | boolean;
    dll?: string;
    timeout: number;
    json?: boolean;
  },
): Promise<number> {
  const api = await import("./api.ts");
  const picked = pickProcess(target, {
    find: api.findProcesses,
    pid: opts.pid,
  });
  if (picked) {
    const dll = await dllForTarget(opts.dll, () => api.processArch(picked.pid));
    const name = picked.name ??
      api.processes().find((p) => p.pid === picked.pid)?.name ?? target;
    return await injectPid(picked.pid, name, dll, opts);
  }
  const name = baseName(target);
  if (opts.wait !== undefined && opts.wait !== false) {
    const seconds = typeof opts.wait === "number" ? opts.wait : 60;
    // On stderr also with --json (stdout stays JSON only): a script can
    // start the program once the CLI is waiting for it.
    console.error(c.dim(`waiting up to ${seconds} s for ${name} to start…`));
    // A --dll must exist before the wait; the default one depends on
    // the bitness of the process that appears.
    if (opts.dll) await resolveDll(opts.dll);
    const p = await api.waitForProcess(name, { timeout: seconds * 1000 });
    const dll = await dllForTarget(opts.dll, () => api.processArch(p.pid));
    return await injectPid(p.pid, p.name, dll, opts);
  }
  if (isFile(target)) {
    const dll = await dllForTarget(opts.dll, () => fileArch(target));
    const t0 = performance.now();
    const launched = await api.launch(target, { dlls: [dll], stdio: "none" });
    const ms = performance.now() - t0;
    launched.close();
    return report({
      pid: launched.pid,
      name,
      launched: true,
      dll,
      ms,
      json: opts.json,
    });
  }
  throw new CliError(
    `No process named ${name} is running (use --wait to wait for it, or give the path of the executable to launch it)`,
  );
}

async function injectPid(
  pid: number,
  name: string,
  dll: string,
  opts: { timeout: number; json?: boolean },
): Promise<number> {
  const api = await import("./api.ts");
  const t0 = performance.now();
  const mod = await api.inject(pid, dll, { timeout: opts.timeout * 1000 });
  const ms = performance.now() - t0;
  return report({ pid, name, dll, ms, module: mod, json: opts.json });
}

function report(r: {
  pid: number;
  name: string;
  dll: string;
  ms: number;
  launched?: boolean;
  module?: { name: string; path: string; base: bigint; size: number };
  json?: boolean;
}): number {
  if (r.json) {
    printJson({
      pid: r.pid,
      process: r.name,
      launched: r.launched ?? false,
      dll: r.dll,
      module: r.module,
      ms: Math.round(r.ms * 10) / 10,
    });
    return 0;
  }
  const verb = r.launched ? "launched" : "injected";
  console.log(
    `${c.green(verb)} ${baseName(r.dll)} ${r.launched ? "with" : "into"} ${
      c.bold(r.name)
    } (pid ${r.pid})`,
  );
  const rows: string[][] = [];
  if (r.module) rows.push(["module base", hex(r.module.base)]);
  rows.push(["dll", r.module?.path ?? r.dll]);
  rows.push(["took", `${r.ms.toFixed(1)} ms`]);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(12)} ${v}`);
  return 0;
}

/** Builds the commander program. `run` collects the action's exit code. */
export function buildProgram(setCode: (code: number) => void) {
  const program = new Command()
    .name("heapshift")
    .description(
      "Take over a running Windows program's UCRT allocator and hand it to mimalloc.",
    )
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
      writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
    })
    .addHelpText(
      "after",
      example(
        "deno task demo",
        "deno run -A cli.ts inject game.exe",
        "deno run -A cli.ts stats 1234 --watch",
      ),
    );

  program.command("inject")
    .description(
      "Inject the hook DLL into a running program (pid, process name, or an executable to launch).",
    )
    .argument(
      "<target>",
      "pid, process name (game.exe) or path of an executable",
      parseProcessArg,
    )
    .option("--pid <pid>", PID_HELP, parsePid)
    .option(
      "--wait [seconds]",
      "wait for the process to start (default 60 s), then inject at once",
      parseSeconds,
    )
    .option(
      "--dll <path>",
      "the DLL to inject (default build/heapshift.dll, or build/heapshift32.dll for a 32-bit program)",
      parsePath,
    )
    .option(
      "--timeout <seconds>",
      "how long the remote load may take",
      parseSeconds,
      10,
    )
    .option("--json", "machine-readable output")
    .option("--prefix <dir>", PREFIX_HELP)
    .option("--wine-env <name>", WINE_ENV_HELP).addHelpText(
      "after",
      example(
        "deno run -A cli.ts inject game.exe",
        "deno run -A cli.ts inject 1234 --json",
        "deno run -A cli.ts inject game.exe --wait 120",
      ),
    ).action(async (target, opts) => {
      const fwd = await forward(opts);
      if (fwd !== undefined) return setCode(fwd);
      setCode(await doInject(target, opts));
    });

  program.command("launch")
    .description(
      "Start a program with DLLs loaded before any of its own code runs.",
    )
    .argument("<exe>", "the executable")
    .argument("[args...]", "its arguments (after --)")
    .option(
      "--dll <path>",
      "a DLL to load (repeatable; default build/heapshift.dll, or build/heapshift32.dll for a 32-bit program)",
      (v: string, prev?: string[]) => collect(parsePath(v), prev),
    )
    .option("--cwd <dir>", "working directory")
    .option(
      "--wait-exit",
      "wait for the program to end and exit with its code (its stdin, stdout and stderr are ours; the report goes to stderr)",
    )
    .option("--json", "machine-readable output")
    .option("--prefix <dir>", PREFIX_HELP)
    .option("--wine-env <name>", WINE_ENV_HELP).addHelpText(
      "after",
      example(
        "deno run -A cli.ts launch game.exe -- -windowed",
        "deno run -A cli.ts launch app.exe --dll build/heapshift.dll --dll extra.dll",
      ),
    ).action(async (exe, args, opts) => {
      const fwd = await forward(opts);
      if (fwd !== undefined) return setCode(fwd);
      if (!isFile(exe)) throw new CliError(`No executable at ${exe}`);
      const api = await import("./api.ts");
      const dlls = opts.dll?.length
        ? await Promise.all(opts.dll.map((d) => resolveDll(d)))
        : [await resolveDll(undefined, { arch: fileArch(exe) })];
      const t0 = performance.now();
      // Without --wait-exit the program outlives us: it must not hold our
      // stdout open (a script reading it would wait for the program's end).
      const launched = await api.launch(exe, {
        args,
        cwd: opts.cwd,
        dlls,
        stdio: opts.waitExit ? "inherit" : "none",
      });
      const ms = performance.now() - t0;
      const code = opts.waitExit ? await api.waitExit(launched) : undefined;
      // With --wait-exit the program had our standard streams: the report
      // goes to stderr, once it has ended, so neither is mixed into the other.
      const say = opts.waitExit ? console.error : console.log;
      if (opts.json) {
        say(toJson({
          pid: launched.pid,
          exe,
          args,
          dlls,
          ms: Math.round(ms * 10) / 10,
          ...(code === undefined ? {} : { exitCode: code }),
        }));
      } else {
        say(
          `${c.green("launched")} ${
            c.bold(baseName(exe))
          } (pid ${launched.pid})`,
        );
        for (const d of dlls) say(`  dll   ${d}`);
        say(`  took  ${ms.toFixed(1)} ms`);
        if (code !== undefined) say(`  exit  ${code}`);
      }
      setCode(code ?? 0);
    });

  program.command("patch")
    .description(
      "Make an executable load the hook DLL first, by patching its import table (as minject).",
    )
    .argument("<exe>", "the executable")
    .option("-l, --list", "only show the imports and what would change")
    .option(
      "-i, --inplace",
      "patch the file itself (keeps <exe>.bak, or .bak.1, … if taken)",
    )
    .option("-f, --force", "overwrite an existing output file")
    .option("--postfix <text>", "DLL name postfix: heapshift<postfix>.dll")
    .option("-o, --out <path>", "output file (default <name>.heapshift.exe)")
    .option("--remove", "remove the DLL from the import table instead")
    .option(
      "--allow-foreign",
      "with --remove: remove it even if heapshift did not add it",
    )
    .option("--dll <name>", "DLL file name to import (default heapshift.dll)")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      example(
        "deno run -A cli.ts patch game.exe            # writes game.heapshift.exe",
        "deno run -A cli.ts patch game.exe --inplace",
        "deno run -A cli.ts patch game.exe --remove --inplace",
      ),
    )
    .action(async (exe, opts) => {
      checkDllName(opts);
      if (opts.inplace && opts.out) {
        throw new UsageError("--inplace and --out cannot be used together");
      }
      const common = {
        list: opts.list,
        inPlace: opts.inplace,
        force: opts.force,
        output: opts.out,
        postfix: opts.postfix,
        dll: opts.dll,
      };
      const rep = opts.remove
        ? await removeImport(exe, {
          ...common,
          allowForeign: opts.allowForeign,
        })
        : await patchImports(exe, common);
      if (opts.json) {
        printJson(rep);
        return setCode(0);
      }
      const what = opts.list ? "would be" : "";
      const verb = {
        added: `${rep.dll} ${what || ""} added first`,
        moved: `${rep.dll} ${what || ""} moved first`,
        removed: `${rep.dll} ${what || ""} removed`,
        unchanged: opts.remove
          ? `${rep.dll} is not imported: nothing to do`
          : `${rep.dll} is already first: nothing to do`,
      }[rep.action].replace(/\s+/g, " ");
      console.log(
        `${c.bold(baseName(exe))}: ${rep.changed ? c.green(verb) : verb}`,
      );
      if (rep.output) console.log(`  written  ${rep.output}`);
      if (rep.backup) console.log(`  backup   ${rep.backup}`);
      const shown = rep.imports.slice(0, 3).join(", ");
      console.log(
        `  imports  ${shown}${
          rep.imports.length > 3 ? `, … (${rep.imports.length} DLLs)` : ""
        }`,
      );
      for (const w of rep.warnings) console.log(c.yellow(`  warning  ${w}`));
      if (rep.changed && !opts.list && !opts.remove) {
        // The DLL must match the program's bitness, whatever its import name.
        const arch = fileArch(exe) ?? "x64";
        const copy = HOOK_DLL[arch] === rep.dll.toLowerCase()
          ? "there"
          : `there as ${rep.dll}`;
        console.log(
          c.dim(
            `  the loader looks for ${rep.dll} next to the executable: copy build/${
              HOOK_DLL[arch]
            } ${copy}${arch === "x86" ? " (the program is 32-bit)" : ""}`,
          ),
        );
      }
      setCode(0);
    });

  program.command("imports")
    .description("List the DLLs an executable imports, in load order.")
    .argument("<exe>", "the executable or DLL")
    .option("-s, --symbols", "list the imported functions too")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      example(
        "deno run -A cli.ts imports game.exe",
        "deno run -A cli.ts imports game.exe -s --json",
      ),
    )
    .action(async (exe, opts) => {
      const list = await peImports(exe, { symbols: !!opts.symbols });
      if (opts.json) {
        printJson(list.map((d) => ({
          dll: d.dll,
          kind: d.kind,
          ...(opts.symbols
            ? {
              symbols: d.symbols.map((s) => s.name ?? `#${s.ordinal}`),
            }
            : {}),
        })));
        return setCode(0);
      }
      for (const d of list) {
        const crt = /^(ucrtbase|api-ms-win-crt-)/i.test(d.dll);
        const tag = d.kind === "delay" ? c.dim(" (delay-load)") : "";
        console.log(`${crt ? c.cyan(d.dll) : d.dll}${tag}`);
        if (opts.symbols) {
          for (const s of d.symbols) {
            console.log(`  ${s.name ?? `#${s.ordinal}`}`);
          }
        }
      }
      setCode(0);
    });

  program.command("ps")
    .description("List running processes (optionally only those named NAME).")
    .argument("[name]", "process name, e.g. game.exe")
    .option("--json", "machine-readable output")
    .option("--prefix <dir>", PREFIX_HELP)
    .option("--wine-env <name>", WINE_ENV_HELP).addHelpText(
      "after",
      example("deno run -A cli.ts ps", "deno run -A cli.ts ps game.exe --json"),
    ).action(async (name, opts) => {
      const fwd = await forward(opts);
      if (fwd !== undefined) return setCode(fwd);
      const api = await import("./api.ts");
      const list = name ? api.findProcesses(name) : api.processes();
      if (opts.json) {
        printJson(list);
        return setCode(0);
      }
      if (name && list.length === 0) {
        throw new CliError(`No process named ${name} is running`);
      }
      console.log(table(
        [
          { header: "PID", align: "right" },
          { header: "PPID", align: "right" },
          { header: "THREADS", align: "right" },
          { header: "NAME" },
        ],
        list.map((
          p,
        ) => [String(p.pid), String(p.parentPid), String(p.threads), p.name]),
      ));
      setCode(0);
    });

  program.command("modules")
    .description("List the modules loaded in a process.")
    .argument("<process>", PROCESS_HELP, parseProcessArg)
    .option("--pid <pid>", PID_HELP, parsePid)
    .option("--json", "machine-readable output")
    .option("--prefix <dir>", PREFIX_HELP)
    .option("--wine-env <name>", WINE_ENV_HELP).addHelpText(
      "after",
      example(
        "deno run -A cli.ts modules 1234",
        "deno run -A cli.ts modules game.exe --json",
      ),
    )
    .action(async (target, opts) => {
      const fwd = await forward(opts);
      if (fwd !== undefined) return setCode(fwd);
      const api = await import("./api.ts");
      const list = api.modules(await targetPid(target, opts.pid));
      if (opts.json) {
        printJson(list);
        return setCode(0);
      }
      console.log(table(
        [
          { header: "BASE" },
          { header: "SIZE", align: "right" },
          { header: "NAME" },
          { header: "PATH" },
        ],
        list.map((m) => {
          const ours = m.name.toLowerCase().startsWith("heapshift");
          return [
            hex(m.base),
            count(m.size),
            ours ? c.green(m.name) : m.name,
            m.path,
          ];
        }),
      ));
      setCode(0);
    });

  program.command("eject")
    .description(
      "Unload a module from a process (heapshift.dll pins itself and stays).",
    )
    .argument("<process>", PROCESS_HELP, parseProcessArg)
    .argument("<module>", "module file name or path")
    .option("--pid <pid>", PID_HELP, parsePid)
    .option("--json", "machine-readable output")
    .option("--prefix <dir>", PREFIX_HELP)
    .option("--wine-env <name>", WINE_ENV_HELP).addHelpText(
      "after",
      example(
        "deno run -A cli.ts eject 1234 probe.dll",
        "deno run -A cli.ts eject game.exe probe.dll",
      ),
    )
    .action(async (target, module, opts) => {
      const fwd = await forward(opts);
      if (fwd !== undefined) return setCode(fwd);
      const api = await import("./api.ts");
      const pid = await targetPid(target, opts.pid);
      await api.eject(pid, module);
      if (opts.json) printJson({ pid, module, ejected: true });
      else console.log(`${c.green("ejected")} ${module} from pid ${pid}`);
      setCode(0);
    });

  statsCommand(program, setCode);

  program.command("build-dll")
    .description("Build the hook DLL (same as `deno task build-dll`).")
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]", "passed to tasks/build_dll.ts")
    .addHelpText(
      "after",
      example("deno run -A cli.ts build-dll --toolchain mingw"),
    )
    .action(async (args) => {
      setCode(await buildDll(args));
    });

  specialkCommand(program, setCode);
  doctorCommand(program, setCode);
  demoCommand(program, setCode);
  return program;
}

/** Maps an error to an exit code, printing its one-line reason. */
export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    if (
      e.code === "commander.helpDisplayed" || e.code === "commander.version" ||
      (e.code === "commander.help" && e.exitCode === 0)
    ) return 0;
    // Commander already printed the reason (or, for no command at all, the
    // help on stderr).
    return 2;
  }
  if (
    e instanceof Deno.errors.BrokenPipe ||
    (e instanceof Error && /os error 233|broken pipe/i.test(e.message))
  ) {
    return 0; // stdout closed early (e.g. piped into head): not a failure
  }
  let code = 1;
  let msg: string;
  if (e instanceof CliError) {
    code = e.exitCode;
    msg = e.message;
  } else if (e instanceof PeError) {
    msg = e.message;
  } else if (e instanceof Error && e.name === "HeapshiftError") {
    msg = e.message;
  } else if (e instanceof Deno.errors.NotFound) {
    msg = e.message;
  } else if (e instanceof Error) {
    msg = `${e.name}: ${e.message}`;
  } else msg = String(e);
  console.error(`${c.red("error:")} ${msg.split("\n")[0]}`);
  if (Deno.env.get("HEAPSHIFT_DEBUG") && e instanceof Error) {
    console.error(e.stack);
  }
  return code;
}

/** Runs the CLI on `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  setCurrentArgs(args);
  let code = 0;
  const program = buildProgram((n) => code = n);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    return reportError(e);
  }
  return code;
}

export { Option };
