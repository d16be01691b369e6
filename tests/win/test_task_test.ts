// tasks/test.ts natively on Windows: `deno task test` runs the unit suite
// with the local (Windows) Deno, then tests/win/ as a suite of its own.
import { assert } from "./assert.ts";
import { test } from "./harness.ts";
import { unitSuiteArgs } from "../../tasks/test.ts";

test("the unit suite on Windows leaves tests/win/ to the Windows suite", () => {
  // Without it the whole Windows suite ran twice (the unit pass took it
  // too, with none of the Windows pass's settings).
  const args = unitSuiteArgs([]);
  assert(args.includes("--ignore=tests/win"), args.join(" "));
});
