// The one rule for names pe/'s writer cannot write, which the API and the
// CLI check with before writing.
import assert from "node:assert/strict";
import { writtenNameTooLong } from "./written_name.ts";

const name = (n: number) => `${"x".repeat(n - 4)}.exe`;

Deno.test("writtenNameTooLong: a name whose temporary file (14 longer) would pass 255, in UTF-16 units on Windows and UTF-8 bytes elsewhere", () => {
  for (const windows of [true, false]) {
    assert.equal(
      writtenNameTooLong(`dir/${name(241)}`, { windows }),
      undefined,
    );
    const unit = windows ? "characters" : "bytes";
    assert.deepEqual(writtenNameTooLong(`dir/${name(242)}`, { windows }), {
      length: 242,
      unit,
      max: 241,
      nameMax: 255,
      why:
        `its name is 242 ${unit}, and the temporary file it is written through is named 14 longer, over the 255 a file name may have`,
    });
  }
  // 121 'é': 242 bytes, 121 characters
  const accented = "\u00e9".repeat(121);
  assert.equal(writtenNameTooLong(accented, { windows: true }), undefined);
  assert.equal(writtenNameTooLong(accented, { windows: false })?.length, 242);
  // only the last name counts; '\' separates names on Windows alone
  const deep = `${"d".repeat(200)}\\${name(50)}`;
  assert.equal(writtenNameTooLong(deep, { windows: true }), undefined);
  assert.equal(writtenNameTooLong(deep, { windows: false })?.length, 251);
});

Deno.test("writtenNameTooLong counts as this system does by default", () => {
  const long = writtenNameTooLong(`${"\u00e9".repeat(121)}`);
  if (Deno.build.os === "windows") assert.equal(long, undefined);
  else assert.equal(long?.unit, "bytes");
});
