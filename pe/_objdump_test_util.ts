// binutils' objdump as an independent oracle for the PE tests: always the
// one heapshift's Wine environment provisions (binutils-mingw-w64 of Debian
// trixie, run in its chroot), never whatever a host happens to have, so
// every machine compares against the same output. On Windows, where there
// is no environment, the mingw-w64 objdump on PATH (the README's
// prerequisites; under Wine, tasks/unix_tools.ts's stand-in for the
// environment's). A missing oracle is an error, never a skipped check.
import { fileURLToPath } from "node:url";

import { isFile } from "../src/_paths.ts";
import { rootfsDir } from "../tasks/winenv.ts";

const IN_ROOTFS = "usr/bin/x86_64-w64-mingw32ucrt-objdump";
const ON_WINDOWS = ["x86_64-w64-mingw32-objdump.exe", "objdump.exe"];

/**
 * The environment's root directory, where the PE tests look for it: where
 * provisioning puts it (tasks/winenv.ts: a relative XDG_CACHE_HOME is
 * ignored, no HOME is the user's own home).
 */
export function rootfs(): string {
  return rootfsDir();
}

/** Thrown when a prerequisite of the PE tests is missing. */
export class MissingPrerequisiteError extends Error {
  override name = "MissingPrerequisiteError";
}

const PROVISION =
  "run `deno task env provision` (or `deno task test`, which provisions first)";

/**
 * The Windows deno.exe to test against: `HEAPSHIFT_DENO_EXE`, else on
 * Windows the Deno running the tests, else the one in heapshift's Wine
 * environment. Throws when there is none.
 */
export function windowsDenoExe(): string {
  const path = Deno.env.get("HEAPSHIFT_DENO_EXE") ??
    (Deno.build.os === "windows"
      ? Deno.execPath()
      : `${rootfs()}/opt/heapshift/deno.exe`);
  if (!isFile(path)) {
    throw new MissingPrerequisiteError(
      `The Windows deno.exe is missing at ${path}: ${PROVISION}`,
    );
  }
  return path;
}

/**
 * The built Windows fixtures (`build/fixtures/*.exe|dll`, made by
 * tasks/fixtures.ts, which `deno task test` runs first). Throws when they
 * are not there.
 */
export function builtFixtures(): string[] {
  const dir = new URL("../build/fixtures/", import.meta.url);
  const files: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (/\.(exe|dll)$/.test(e.name)) {
        files.push(fileURLToPath(new URL(e.name, dir)));
      }
    }
  } catch { /* not built: reported below */ }
  if (files.length < 10) {
    throw new MissingPrerequisiteError(
      `Only ${files.length} fixtures in ${dir.pathname}: build them with \`deno run -A tasks/fixtures.ts\` (\`deno task test\` does)`,
    );
  }
  return files.sort();
}

/**
 * Wine's PE builtins in heapshift's Wine environment (x64 and x86): every
 * `.exe`, and the DLLs named in `dlls`. Throws when there are none.
 */
export function wineBuiltins(dlls: string[] = []): string[] {
  const out: string[] = [];
  for (
    const dir of [
      "usr/lib/x86_64-linux-gnu/wine/x86_64-windows",
      "usr/lib/i386-linux-gnu/wine/i386-windows",
    ]
  ) {
    try {
      for (const e of Deno.readDirSync(`${rootfs()}/${dir}`)) {
        if (e.name.endsWith(".exe") || dlls.includes(e.name)) {
          out.push(`${rootfs()}/${dir}/${e.name}`);
        }
      }
    } catch { /* no environment: reported below */ }
  }
  if (out.length === 0) {
    throw new MissingPrerequisiteError(
      `No Wine builtins in ${rootfs()}: ${PROVISION}`,
    );
  }
  return out.sort();
}

interface Oracle {
  /** Command line prefix. */
  cmd: string[];
  /** Directory for input files, and the path prefix objdump sees. */
  dir: () => Promise<{ host: string; seen: string }>;
}

let found: Oracle | undefined;

function oracle(): Oracle {
  if (found) return found;
  if (Deno.build.os === "windows") {
    for (const dir of (Deno.env.get("PATH") ?? "").split(";")) {
      for (const c of ON_WINDOWS) {
        if (isFile(`${dir}\\${c}`)) {
          return found = {
            cmd: [`${dir}\\${c}`],
            dir: async () => {
              const d = await Deno.makeTempDir();
              return { host: d, seen: d };
            },
          };
        }
      }
    }
    throw new MissingPrerequisiteError(
      "No mingw-w64 objdump on PATH: install mingw-w64 (see the README's prerequisites)",
    );
  }
  const root = rootfs();
  if (!isFile(`${root}/${IN_ROOTFS}`)) {
    throw new MissingPrerequisiteError(
      `The objdump oracle is missing at ${root}/${IN_ROOTFS}: ${PROVISION}`,
    );
  }
  return found = {
    cmd: [
      isFile("/usr/sbin/chroot") ? "/usr/sbin/chroot" : "chroot",
      root,
      `/${IN_ROOTFS}`,
    ],
    dir: async () => {
      const d = await Deno.makeTempDir({ dir: `${root}/tmp` });
      return { host: d, seen: d.slice(root.length) };
    },
  };
}

/** Runs objdump with `flag` on bytes: exit code and output. */
export async function objdumpRun(
  bytes: Uint8Array,
  flag: string,
): Promise<{ code: number; text: string }> {
  const o = oracle();
  const { host, seen } = await o.dir();
  try {
    await Deno.writeFile(`${host}/f.exe`, bytes);
    const [cmd, ...pre] = o.cmd;
    const r = await new Deno.Command(cmd, {
      args: [...pre, flag, `${seen}/f.exe`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) +
      new TextDecoder().decode(r.stderr);
    return { code: r.code, text };
  } finally {
    await Deno.remove(host, { recursive: true });
  }
}

/** `objdump -p` of bytes: exit code, output and the DLL names it lists. */
export async function objdumpImports(
  bytes: Uint8Array,
): Promise<{ code: number; text: string; dlls: string[] }> {
  const r = await objdumpRun(bytes, "-p");
  const dlls = [...r.text.matchAll(/DLL Name: (.*)/g)].map((m) => m[1].trim());
  return { ...r, dlls };
}

/**
 * objdump's import listing without addresses: a `DLL Name: …` line per DLL,
 * then one `<hint> <name>` (or ordinal) line per function. binutils 2.40
 * prints a function as `\t<vma>\t<hint>  <name>`, 2.44 as
 * `\t<vma>  <ordinal|none>  <hint>  <name>`: both come out the same.
 */
export function importListing(text: string): string[] {
  const out: string[] = [];
  let inDll = false; // from a DLL Name line to the blank line ending it
  for (const line of text.split("\n")) {
    const dll = /DLL Name: (.*)/.exec(line);
    if (dll) {
      out.push(`DLL Name: ${dll[1].trim()}`);
      inDll = true;
    } else if (line.trim() === "") {
      inDll = false;
    } else if (inDll && /^\t[0-9a-f]{8,16}\s/.test(line)) {
      out.push(
        line.trim().split(/\s+/).slice(1).filter((t) => t !== "<none>")
          .join(" "),
      );
    }
  }
  return out;
}
