// Runs binutils' objdump as an independent oracle when it is installed.

const CANDIDATES = [
  "x86_64-w64-mingw32-objdump",
  "x86_64-w64-mingw32ucrt-objdump",
  "i686-w64-mingw32-objdump",
];

function find(): string | undefined {
  for (const c of CANDIDATES) {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (Deno.statSync(`${dir}/${c}`).isFile) return `${dir}/${c}`;
      } catch { /* not here */ }
    }
  }
  return undefined;
}

/** Path of a PE-capable objdump, or undefined. */
export const objdump: string | undefined = find();

/** `objdump -p` of bytes: exit code, output and the DLL names it lists. */
export async function objdumpImports(
  bytes: Uint8Array,
): Promise<{ code: number; text: string; dlls: string[] }> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/f.exe`, bytes);
    const r = await new Deno.Command(objdump!, {
      args: ["-p", `${dir}/f.exe`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) +
      new TextDecoder().decode(r.stderr);
    const dlls = [...text.matchAll(/DLL Name: (.*)/g)].map((m) => m[1].trim());
    return { code: r.code, text, dlls };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
