/**
 * heapshift's command line: inject the hook DLL into a running program,
 * launch one with it, patch an executable's imports, watch the takeover.
 *
 *   deno run -A cli.ts --help
 *   deno run -A cli.ts inject game.exe
 *
 * On Linux, the commands that reach Windows programs run their Windows half
 * with the Windows Deno under Wine (`--prefix DIR`, default $WINEPREFIX).
 *
 * @module
 */

import { main } from "./cli/program.ts";

export { main };

if (import.meta.main) Deno.exit(await main(Deno.args));
