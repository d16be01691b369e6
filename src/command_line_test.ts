import assert from "node:assert/strict";
import { quoteArg } from "./command_line.ts";

Deno.test("quoteArg follows the MSVC command-line rules", () => {
  assert.equal(quoteArg("plain"), "plain");
  assert.equal(quoteArg(""), '""');
  assert.equal(quoteArg("two words"), '"two words"');
  assert.equal(quoteArg('say "hi"'), '"say \\"hi\\""');
  assert.equal(quoteArg("C:\\dir with space\\"), '"C:\\dir with space\\\\"');
  assert.equal(quoteArg("a\\\\b"), "a\\\\b");
  assert.equal(quoteArg('a\\"b'), '"a\\\\\\"b"');
});
