/**
 * The Wine environment's mingw-w64 tools as Windows programs, for the unit
 * suite run by the Windows Deno under Wine: on Windows its tests find
 * mingw-w64's gcc and objdump on PATH (the README's prerequisites), and
 * under Wine these stand in for them, each running the environment's
 * real Linux tool of its name (tasks/unix_tool.c says how and why).
 *
 * @module
 */

import { compile, MINGW } from "./toolchain.ts";
import { isWindows, repoRoot } from "./winenv.ts";

/**
 * The tools the unit suite takes from PATH on Windows: the fixtures' and
 * the DLL's compilers (tasks/toolchain.ts) and the PE tests' objdump
 * (pe/_objdump_test_util.ts).
 */
export const UNIX_TOOLS: readonly string[] = [
  MINGW.x64[0],
  MINGW.x86[0],
  "x86_64-w64-mingw32-objdump",
];

/** Where they are built, relative to the checkout. */
export const UNIX_TOOLS_DIR = "build/unix-tools";

/**
 * The Windows path under Wine (`Z:\…`: the checkout is mounted at its real
 * path) of {@linkcode UNIX_TOOLS_DIR}, for the Windows PATH (`WINEPATH`).
 */
export function unixToolsPath(): string {
  return `Z:${toolsDir().replaceAll("/", "\\")}`;
}

function toolsDir(): string {
  return `${Deno.realPathSync(repoRoot())}/${UNIX_TOOLS_DIR}`;
}

/**
 * Builds tasks/unix_tool.c once per tool name into
 * {@linkcode UNIX_TOOLS_DIR}. Off Wine there is nothing to stand in for:
 * natively on Windows the tools are the user's own.
 */
export async function buildUnixTools(): Promise<void> {
  if (isWindows) {
    throw new Error("The Unix tools' stand-ins are for Wine only");
  }
  const dir = toolsDir();
  await Deno.mkdir(dir, { recursive: true });
  // (a second of compiling: no stamp to keep)
  const built = `${dir}/unix_tool.exe`;
  await compile({
    sources: [`${repoRoot()}/tasks/unix_tool.c`],
    out: built,
    flags: ["-municode"],
  });
  for (const name of UNIX_TOOLS) {
    await Deno.copyFile(built, `${dir}/${name}.exe`);
  }
}
