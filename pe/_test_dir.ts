// Temporary directories for the file-level tests (internal).

/** Runs `fn` with a new temporary directory, removed afterwards. */
export async function withDir(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs `fn` with a new temporary directory, removed afterwards; the
 * environment variable `name`, which `fn` may set, is restored.
 */
export function withVar(
  name: string,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  return withVars([name], fn);
}

/** {@linkcode withVar} for several variables. */
export async function withVars(
  names: string[],
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const saved = names.map((n) => [n, Deno.env.get(n)] as const);
  try {
    await withDir(fn);
  } finally {
    for (const [n, v] of saved) {
      if (v === undefined) Deno.env.delete(n);
      else Deno.env.set(n, v);
    }
  }
}

/**
 * A test of POSIX file kinds (symbolic and hard links, FIFOs, devices) in
 * a temporary directory; ignored on Windows.
 */
export function posixTest(
  name: string,
  fn: (dir: string) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: Deno.build.os === "windows",
    fn: () => withDir(fn),
  });
}
