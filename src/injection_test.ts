import assert from "node:assert/strict";
import { eject, inject } from "./injection.ts";
import { HeapshiftError } from "./heapshift_error.ts";

// From JavaScript (no type checks there): a bad-argument error before the
// process is opened (pid 1 need not be a target).
Deno.test("inject and eject refuse a path or options of the wrong type with a bad-argument error", async () => {
  const cases: [() => Promise<unknown>, RegExp][] = [
    [
      () => inject(1, 5 as unknown as string),
      /^Cannot inject a DLL into process 1: the path must be a string, not a number$/,
    ],
    [
      () => inject(1, "x.dll", null as unknown as object),
      /^Cannot inject x\.dll into process 1: the options must be an object, not null$/,
    ],
    [
      () => eject(1, "" as string),
      /^Cannot eject a module from process 1: the path must be a string, not an empty string$/,
    ],
    [
      () => eject(1, "x.dll", null as unknown as object),
      /^Cannot eject x\.dll from process 1: the options must be an object, not null$/,
    ],
    [
      // A string is truthy: "false" must not force.
      () => eject(1, "x.dll", { force: "false" as unknown as boolean }),
      /^Cannot eject x\.dll from process 1: force must be true or false, not a string$/,
    ],
  ];
  for (const [call, text] of cases) {
    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof HeapshiftError, String(e));
      assert.equal(e.kind, "bad-argument");
      assert.match(e.message, text);
      return true;
    });
  }
});
