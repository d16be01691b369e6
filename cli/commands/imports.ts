/**
 * `heapshift imports`: the DLLs an executable imports, in load order (pe/'s
 * reader, on every OS).
 *
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { imports as peImports } from "../../pe/mod.ts";
import { example, parsePath, type SetCode } from "../args.ts";
import { c, printJson, shown } from "../output.ts";

/** Registers `imports`. */
export function importsCommand(program: Command, setCode: SetCode): void {
  program.command("imports")
    .description("List the DLLs an executable imports, in load order.")
    .argument("<exe>", "the executable or DLL", parsePath)
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
        const name = shown(d.dll);
        console.log(`${crt ? c.cyan(name) : name}${tag}`);
        if (opts.symbols) {
          for (const s of d.symbols) {
            console.log(
              `  ${s.name !== undefined ? shown(s.name) : `#${s.ordinal}`}`,
            );
          }
        }
      }
      setCode(0);
    });
}
