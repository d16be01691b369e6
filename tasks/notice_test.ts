import assert from "node:assert/strict";
import { NOTICE_FILE } from "../cli/embed.ts";
import { copyNotice, noticeText } from "./notice.ts";

Deno.test("the notice names mimalloc and carries its MIT license", () => {
  const text = noticeText();
  assert.match(text, /mimalloc/);
  assert.match(
    text,
    /Copyright \(c\) 2018-2021 Microsoft Corporation, Daan Leijen/,
  );
  assert.match(text, /Permission is hereby granted, free of charge/);
});

Deno.test("copyNotice puts the notice in a directory, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await copyNotice(`${dir}/build`);
    assert.equal(path, `${dir}/build/${NOTICE_FILE}`);
    assert.equal(await Deno.readTextFile(path), noticeText());
    const mtime = (await Deno.stat(path)).mtime;
    await copyNotice(`${dir}/build`);
    assert.deepEqual((await Deno.stat(path)).mtime, mtime, "not rewritten");
    assert.deepEqual([...Deno.readDirSync(`${dir}/build`)].length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the built hook DLL has the notice beside it", () => {
  // `deno task test` builds build/heapshift.dll before the unit suite.
  const build = new URL("../build/", import.meta.url);
  assert.ok(
    Deno.statSync(new URL("heapshift.dll", build)).isFile,
    "build/heapshift.dll is built (run the suite with `deno task test`)",
  );
  assert.equal(
    Deno.readTextFileSync(new URL(NOTICE_FILE, build)),
    noticeText(),
  );
});
