import assert from "node:assert/strict";
import { readJunit } from "./test.ts";

// A report as `deno test --junit-path` writes it (Deno 2.9).
const XML = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="3" failures="1" errors="0" time="0.007">
    <testsuite name="./a_test.ts" tests="3" disabled="1" errors="0" failures="1">
        <testcase name="one" classname="./a_test.ts" time="0.000" line="1" col="6">
        </testcase>
        <testcase name="two &quot;q&quot;" classname="./a_test.ts" time="0.000" line="2" col="6">
            <skipped/>
        </testcase>
        <testcase name="three" classname="./a_test.ts" time="0.000" line="3" col="6">
            <failure message="Uncaught Error: x">Error: x</failure>
        </testcase>
    </testsuite>
</testsuites>`;

Deno.test("readJunit() counts passed, failed and ignored tests, naming the ignored", () => {
  assert.deepEqual(readJunit(XML), {
    passed: 1,
    failed: 1,
    ignored: 1,
    ignoredNames: ['two "q"'],
  });
});

Deno.test("readJunit() of a report without a summary counts nothing", () => {
  assert.deepEqual(readJunit("<testsuites/>"), {
    passed: 0,
    failed: 0,
    ignored: 0,
    ignoredNames: [],
  });
});
