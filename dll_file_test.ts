import assert from "node:assert/strict";
import { baseName, checkDll, firstExportOrdinal } from "./dll_file.ts";
import { HeapshiftError } from "./errors.ts";
import { buildPe, type SyntheticOptions } from "./pe/_test_pe.ts";

/** Writes a synthetic PE to `path`, marked as a DLL unless `exe`. */
async function writePe(
  path: string,
  options: SyntheticOptions & { exe?: boolean } = {},
): Promise<string> {
  const bytes = buildPe(options);
  if (!options.exe) {
    const v = new DataView(bytes.buffer);
    const pe = v.getUint32(0x3c, true);
    v.setUint16(pe + 22, v.getUint16(pe + 22, true) | 0x2000, true);
  }
  await Deno.writeFile(path, bytes);
  return path;
}

function isBadDll(text: string) {
  return (e: unknown) =>
    e instanceof HeapshiftError && e.kind === "bad-dll" &&
    e.message.includes(text);
}

Deno.test("checkDll accepts an x64 DLL and names what else it got", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-dll-" });
  try {
    const dll = await writePe(`${dir}/ok.dll`);
    assert.equal(checkDll(dll), dll);
    const exe = await writePe(`${dir}/prog.exe`, { exe: true });
    assert.throws(
      () => checkDll(exe),
      isBadDll("not a DLL (it is an executable)"),
    );
    const x86 = await writePe(`${dir}/x86.dll`, { format: "PE32" });
    assert.throws(
      () => checkDll(x86),
      isBadDll(`Cannot use DLL ${x86}: it is a 32-bit (x86) DLL`),
    );
    await Deno.writeTextFile(`${dir}/text.dll`, "not a PE file at all");
    assert.throws(
      () => checkDll(`${dir}/text.dll`),
      isBadDll("not a DLL (not a Windows PE file)"),
    );
    assert.throws(
      () => checkDll(`${dir}/nope.dll`),
      isBadDll(`Cannot use DLL ${dir}/nope.dll: no such file`),
    );
    assert.throws(() => checkDll(dir), isBadDll("it is a directory"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("firstExportOrdinal: the lowest ordinal, or undefined", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-dll-" });
  try {
    const dll = await writePe(`${dir}/a.dll`, {
      exports: { dll: "a.dll", names: ["heapshift_anchor", "other"] },
    });
    assert.equal(firstExportOrdinal(dll), 1);
    assert.equal(
      firstExportOrdinal(await writePe(`${dir}/none.dll`)),
      undefined,
    );
    // An export directory pointing outside the file is a bad DLL, not a
    // crash.
    const bytes = await Deno.readFile(dll);
    const v = new DataView(bytes.buffer);
    const pe = v.getUint32(0x3c, true);
    v.setUint32(pe + 24 + 112, 0x7fff_0000, true); // export directory RVA
    await Deno.writeFile(`${dir}/bad.dll`, bytes);
    assert.throws(
      () => firstExportOrdinal(`${dir}/bad.dll`),
      isBadDll(`Cannot use DLL ${dir}/bad.dll: corrupt export table`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("baseName takes Windows and POSIX paths", () => {
  assert.equal(baseName("C:\\dir\\heapshift.dll"), "heapshift.dll");
  assert.equal(baseName("/work/build/heapshift.dll"), "heapshift.dll");
  assert.equal(baseName("Z:\\mixed/sep\\probe.dll"), "probe.dll");
  assert.equal(baseName("probe.dll"), "probe.dll");
});
