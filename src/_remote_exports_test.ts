// Finding a function in a target's 32-bit DLLs from their loaded images:
// by name, through forwarders and API sets (synthetic images, on Linux).
import assert from "node:assert/strict";
import { HeapshiftError } from "./heapshift_error.ts";
import { findExport } from "./_remote_exports.ts";
import type { ModuleInfo } from "./module_list.ts";
import { mappedSource } from "../pe/mapped.ts";
import { buildPe } from "../pe/_test_pe.ts";
import { imageReader, mapImage } from "../pe/_test_mapped.ts";
import { u32 } from "../pe/_read.ts";

const TEXT_RVA = 0x1000; // where buildPe points every export

/** A 32-bit image exporting `names`; `forwards` makes some forwarders. */
function image(
  dll: string,
  names: string[],
  forwards: Record<string, string> = {},
): Uint8Array {
  // The forwarder strings are exported too, so they lie in the directory.
  const all = [
    ...new Set([
      ...names,
      ...Object.keys(forwards),
      ...Object.values(forwards),
    ]),
  ];
  const img = mapImage(
    buildPe({ format: "PE32", exports: { dll, names: all } }),
  );
  const dir = u32(img, 0x80 + 24 + 96); // PE32: export directory RVA
  const functions = u32(img, dir + 28);
  const sorted = [...all].sort();
  for (const [name, target] of Object.entries(forwards)) {
    // A forwarder is a function RVA inside the export directory, pointing
    // at the "DLL.Function" string (here: the name string of `target`).
    const at = findString(img, target);
    new DataView(img.buffer).setUint32(
      functions + 4 * sorted.indexOf(name),
      at,
      true,
    );
  }
  return img;
}

function findString(img: Uint8Array, s: string): number {
  const want = new TextEncoder().encode(`${s}\0`);
  for (let i = 0; i < img.length - want.length; i++) {
    if (want.every((b, j) => img[i + j] === b)) return i;
  }
  throw new Error(`${s} not in the image`);
}

const IMAGES: Record<string, Uint8Array> = {
  "KERNEL32.DLL": image("KERNEL32.dll", ["LoadLibraryW"], {
    GetLastError: "NTDLL.RtlGetLastWin32Error",
    AddDllDirectory: "api-ms-win-core-libraryloader-l1-1-0.AddDllDirectory",
    Loop: "KERNEL32.Loop",
  }),
  "ntdll.dll": image("ntdll.dll", ["RtlGetLastWin32Error"]),
  "KERNELBASE.dll": image("KERNELBASE.dll", ["AddDllDirectory"]),
};

const LIST: ModuleInfo[] = [
  { name: "game.exe", path: "C:\\game.exe", base: 0x400000n, size: 0x1000 },
  ...Object.keys(IMAGES).map((name, i) => ({
    name,
    path: `C:\\windows\\syswow64\\${name}`,
    base: 0x7b00_0000n + BigInt(i) * 0x10_0000n,
    size: IMAGES[name].length,
  })),
];
const base = (name: string) => LIST.find((m) => m.name === name)!.base;

const search = {
  image: (m: ModuleInfo) => mappedSource(imageReader(IMAGES[m.name])),
  process: "32-bit process 12",
};

Deno.test("findExport: a function of a loaded 32-bit DLL, by name in any case", () => {
  assert.equal(
    findExport(LIST, { dll: "kernel32.dll", fn: "LoadLibraryW" }, search),
    base("KERNEL32.DLL") + BigInt(TEXT_RVA),
  );
});

Deno.test("findExport follows forwarders to another DLL and API sets to kernelbase", () => {
  assert.equal(
    findExport(LIST, { dll: "kernel32.dll", fn: "GetLastError" }, search),
    base("ntdll.dll") + BigInt(TEXT_RVA),
  );
  assert.equal(
    findExport(LIST, { dll: "kernel32.dll", fn: "AddDllDirectory" }, search),
    base("KERNELBASE.dll") + BigInt(TEXT_RVA),
  );
});

Deno.test("findExport: no kernel32 means the program has only just started or is ending, and says what to do", () => {
  // A 32-bit program whose loader has listed itself and ntdll only: it has
  // just started, or was created suspended and resumed a moment ago.
  const early = LIST.filter((m) => /^(game\.exe|ntdll\.dll)$/i.test(m.name));
  assert.throws(
    () =>
      findExport(early, { dll: "kernel32.dll", fn: "LoadLibraryW" }, search),
    (e) =>
      e instanceof HeapshiftError &&
      e.message ===
        "Cannot find LoadLibraryW: kernel32.dll is not loaded in 32-bit process 12: every running program has it, so this one has only just started (its loader has not got that far yet) or is ending; try again in a moment",
  );
});

Deno.test("findExport names what it cannot find", () => {
  const fails = (fn: string, dll: string, message: string) =>
    assert.throws(
      () => findExport(LIST, { dll, fn }, search),
      (e) => e instanceof HeapshiftError && e.message === message,
    );
  fails(
    "Nope",
    "kernel32.dll",
    "Cannot find Nope in kernel32.dll of 32-bit process 12: it does not export it",
  );
  fails(
    "LoadLibraryW",
    "user32.dll",
    "Cannot find LoadLibraryW: user32.dll is not loaded in 32-bit process 12",
  );
  fails(
    "Loop",
    "kernel32.dll",
    "Cannot find Loop in KERNEL32.dll of 32-bit process 12: it forwards to KERNEL32.Loop, which heapshift does not follow",
  );
});
