import assert from "node:assert/strict";
import { quoteArg } from "./command_line.ts";
import { HeapshiftError } from "./heapshift_error.ts";

Deno.test("quoteArg follows the MSVC command-line rules", () => {
  assert.equal(quoteArg("plain"), "plain");
  assert.equal(quoteArg(""), '""');
  assert.equal(quoteArg("two words"), '"two words"');
  assert.equal(quoteArg('say "hi"'), '"say \\"hi\\""');
  assert.equal(quoteArg("C:\\dir with space\\"), '"C:\\dir with space\\\\"');
  assert.equal(quoteArg("a\\\\b"), "a\\\\b");
  assert.equal(quoteArg('a\\"b'), '"a\\\\\\"b"');
});

Deno.test("quoteArg refuses what is not a string (a JavaScript caller's number or null)", () => {
  for (const v of [5, null, undefined, ["a b"]]) {
    assert.throws(
      () => quoteArg(v as unknown as string),
      (e: unknown) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        /^Cannot quote an argument: it must be a string, not /.test(e.message),
    );
  }
});
