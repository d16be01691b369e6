// Runs binutils' objdump as an independent oracle when it is installed:
// on the host, or else the one inside heapshift's Wine environment chroot
// (needs root for chroot).

const HOST = [
  "x86_64-w64-mingw32-objdump",
  "x86_64-w64-mingw32ucrt-objdump",
  "i686-w64-mingw32-objdump",
];
const IN_ROOTFS = "usr/bin/x86_64-w64-mingw32ucrt-objdump";

function isFile(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

function rootfs(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? "/root";
  return `${xdg || `${home}/.cache`}/heapshift/rootfs`;
}

/**
 * The Windows deno.exe to test against: `HEAPSHIFT_DENO_EXE`, or the one
 * in heapshift's Wine environment; `undefined` when there is none.
 */
export function windowsDenoExe(): string | undefined {
  const path = Deno.env.get("HEAPSHIFT_DENO_EXE") ??
    `${rootfs()}/opt/heapshift/deno.exe`;
  return isFile(path) ? path : undefined;
}

/**
 * Wine's PE builtins in heapshift's Wine environment (x64 and x86): every
 * `.exe`, and the DLLs named in `dlls`. Empty when there is no environment.
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
    } catch { /* no environment */ }
  }
  return out.sort();
}

interface Oracle {
  /** Command line prefix. */
  cmd: string[];
  /** Directory for input files, and the path prefix objdump sees. */
  dir: () => Promise<{ host: string; seen: string }>;
}

function find(): Oracle | undefined {
  if (Deno.build.os === "windows") return undefined;
  for (const c of HOST) {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      if (isFile(`${dir}/${c}`)) {
        return {
          cmd: [`${dir}/${c}`],
          dir: async () => {
            const d = await Deno.makeTempDir();
            return { host: d, seen: d };
          },
        };
      }
    }
  }
  const root = rootfs();
  if (isFile(`${root}/${IN_ROOTFS}`) && Deno.uid?.() === 0) {
    return {
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
  return undefined;
}

const oracle = find();

/** Whether an objdump that reads PE files is available. */
export const objdump: boolean = oracle !== undefined;

/** Runs objdump with `flag` on bytes: exit code and output. */
export async function objdumpRun(
  bytes: Uint8Array,
  flag: string,
): Promise<{ code: number; text: string }> {
  const { host, seen } = await oracle!.dir();
  try {
    await Deno.writeFile(`${host}/f.exe`, bytes);
    const [cmd, ...pre] = oracle!.cmd;
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
