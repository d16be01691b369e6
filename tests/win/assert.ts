// Tiny assertions for the Windows suite (the @std asserts live on JSR,
// which cannot be reached here); node:assert/strict does the work.
import nodeAssert from "node:assert/strict";

/** Fails unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Deep equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Fails unless `fn` rejects with an error of `cls` whose message includes `includes`. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...args: never[]) => E,
  includes?: string | RegExp,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new nodeAssert.AssertionError({
    message: `expected ${cls.name} to be thrown`,
  });
}

/** Fails unless `fn` throws an error of `cls` whose message includes `includes`. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  cls: new (...args: never[]) => E,
  includes?: string | RegExp,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new nodeAssert.AssertionError({
    message: `expected ${cls.name} to be thrown`,
  });
}

/** The checks both assertThrows and assertRejects make on what was thrown. */
function checkError<E extends Error>(
  e: unknown,
  cls: new (...args: never[]) => E,
  includes?: string | RegExp,
): E {
  nodeAssert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
  if (includes !== undefined) {
    nodeAssert.match(
      (e as Error).message,
      typeof includes === "string" ? new RegExp(escape(includes)) : includes,
    );
  }
  return e as E;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
