import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkDll,
  checkDllArch,
  firstExportOrdinal,
  readDll,
} from "./_dll_file.ts";
import { HeapshiftError } from "./heapshift_error.ts";
import { buildPe, type SyntheticOptions } from "../pe/_test_pe.ts";

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

Deno.test("checkDll accepts x64 and x86 DLLs and names what else it got", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-dll-" });
  try {
    const dll = await writePe(join(dir, "ok.dll"));
    assert.equal(checkDll(dll), dll);
    assert.deepEqual(readDll(dll), { path: dll, arch: "x64" });
    const x86 = await writePe(join(dir, "x86.dll"), { format: "PE32" });
    assert.deepEqual(readDll(x86), { path: x86, arch: "x86" });
    const exe = await writePe(join(dir, "prog.exe"), { exe: true });
    assert.throws(
      () => checkDll(exe),
      isBadDll("not a DLL (it is an executable)"),
    );
    const arm = join(dir, "arm.dll");
    const bytes = await Deno.readFile(dll);
    const v = new DataView(bytes.buffer);
    v.setUint16(v.getUint32(0x3c, true) + 4, 0xaa64, true);
    await Deno.writeFile(arm, bytes);
    assert.throws(
      () => checkDll(arm),
      isBadDll(
        `Cannot use DLL ${arm}: it is an ARM64 DLL; only x64 and x86 DLLs and targets are supported`,
      ),
    );
    await Deno.writeTextFile(join(dir, "text.dll"), "not a PE file at all");
    assert.throws(
      () => checkDll(join(dir, "text.dll")),
      isBadDll("not a DLL (not a Windows PE file)"),
    );
    assert.throws(
      () => checkDll(join(dir, "nope.dll")),
      isBadDll(`Cannot use DLL ${join(dir, "nope.dll")}: no such file`),
    );
    assert.throws(() => checkDll(dir), isBadDll("it is a directory"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkDllArch names both architectures when they differ", () => {
  const target = { noun: "process", doing: "inject a.dll into process 12" };
  checkDllArch({ path: "a.dll", arch: "x86" }, { ...target, arch: "x86" });
  checkDllArch({ path: "a.dll", arch: "x64" }, { ...target, arch: "x64" });
  assert.throws(
    () =>
      checkDllArch({ path: "a.dll", arch: "x64" }, { ...target, arch: "x86" }),
    isBadDll(
      "Cannot inject a.dll into process 12: the DLL is 64-bit (x64) but the process is 32-bit (x86); a process can only load DLLs of its own architecture",
    ),
  );
  assert.throws(
    () =>
      checkDllArch({ path: "a.dll", arch: "x86" }, {
        arch: "x64",
        noun: "program",
        doing: "launch C:\\p.exe with a.dll",
      }),
    isBadDll("the DLL is 32-bit (x86) but the program is 64-bit (x64)"),
  );
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
    // A DLL cut short (a copy that did not finish) says so.
    await Deno.writeFile(`${dir}/cut.dll`, bytes.slice(0, 0x100));
    assert.throws(
      () => firstExportOrdinal(`${dir}/cut.dll`),
      isBadDll(
        `Cannot use DLL ${dir}/cut.dll: not a valid DLL, or cut short (`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
