import assert from "node:assert/strict";
import { PePatchError } from "./errors.ts";
import { DIR } from "./headers.ts";
import {
  type PatchBytesOptions,
  patchImportsBytes,
  planPatch,
  resolveDllName,
  SECTION_NAME,
} from "./patch.ts";
import { removeImportBytes } from "./remove.ts";
import { renderPlan } from "./_plan.ts";
import { readPe } from "./reader.ts";
import { peChecksum } from "./checksum.ts";
import { bytesSource } from "./source.ts";
import {
  buildPe,
  DEFAULT_IMPORTS,
  growRawData,
  type SyntheticOptions,
  windowsMapsIt,
} from "./_test_pe.ts";
import { objdumpImports } from "./_objdump_test_util.ts";
import { put32, u32 } from "./_read.ts";
import { craftPe, importsBody } from "./_test_crafted.ts";

const info = (b: Uint8Array) => readPe(bytesSource(b));
const names = (b: Uint8Array) => info(b).imports.map((d) => d.dll);

function checksumOk(b: Uint8Array): void {
  const h = info(b).headers;
  assert.equal(h.checksum, peChecksum(b, h.optionalHeaderOffset + 64));
}

const VARIANTS: [string, SyntheticOptions][] = [
  ["PE32+", {}],
  ["PE32", { format: "PE32" }],
  ["overlay and COFF symbols", {
    overlay: new Uint8Array(333).fill(0xab),
    symbols: 5,
  }],
  ["bound imports", { bound: true }],
  ["no lookup tables", { noLookupTable: true, format: "PE32" }],
  ["exports, delay imports, debug", {
    exports: { dll: "x.exe", names: ["a"] },
    delayImports: [{ dll: "dbghelp.dll", symbols: ["SymInitialize"] }],
    debug: true,
  }],
  ["room left in the headers", {
    extraSections: 1,
    symbols: 2,
    debug: true,
    overlay: new Uint8Array(5),
  }],
  ["many sections", { extraSections: 11, certificate: 16 }],
];

for (const [label, opts] of VARIANTS) {
  Deno.test(`patchImportsBytes() adds heapshift.dll first and undoes it: ${label}`, async () => {
    const original = buildPe(opts);
    const before = info(original);
    const r = patchImportsBytes(original, { allowOverlay: true });
    assert.equal(r.action, "added");
    assert.equal(r.changed, true);
    const after = info(r.bytes);
    assert.deepEqual(after.imports.map((d) => d.dll), [
      "heapshift.dll",
      ...before.imports.map((d) => d.dll),
    ]);
    assert.deepEqual(after.imports[0].symbols, [{
      hint: 0,
      name: "heapshift_anchor",
    }]);
    // The other DLLs keep their symbols and their IATs (code points there).
    for (let i = 0; i < before.imports.length; i++) {
      assert.deepEqual(after.imports[i + 1].symbols, before.imports[i].symbols);
      assert.equal(after.imports[i + 1].iatRva, before.imports[i].iatRva);
      assert.ok(
        after.imports[i + 1].timeDateStamp === 0 ||
          before.imports[i].lookupRva === 0,
      );
    }
    const noOffset = (l: typeof before.delayImports) =>
      l.map((d) => ({ ...d, descriptorOffset: 0 }));
    assert.deepEqual(
      noOffset(after.delayImports),
      noOffset(before.delayImports),
    );
    assert.deepEqual(after.exports, before.exports);
    assert.deepEqual(after.boundImports, []);
    const h = after.headers;
    const last = h.sections[h.sections.length - 1];
    assert.equal(last.name, SECTION_NAME);
    windowsMapsIt(original);
    windowsMapsIt(r.bytes);
    assert.equal(h.sections.length, before.headers.sections.length + 1);
    assert.equal(last.pointerToRawData % h.fileAlignment, 0);
    assert.equal(last.virtualAddress % h.sectionAlignment, 0);
    assert.equal(h.sizeOfImage % h.sectionAlignment, 0);
    assert.ok(h.sizeOfImage >= last.virtualAddress + last.virtualSize);
    assert.ok(h.sizeOfHeaders >= h.sectionTableOffset + h.sections.length * 40);
    checksumOk(r.bytes);
    // Overlay and symbol table move together and stay intact.
    if (before.overlay && !before.certificate) {
      assert.ok(after.overlay);
      assert.deepEqual(
        r.bytes.subarray(after.overlay.offset),
        original.subarray(before.overlay.offset),
      );
    }
    if (before.symbolTable) {
      assert.equal(after.symbolTable?.offset, after.overlay?.offset);
      assert.deepEqual(after.symbolTable?.count, before.symbolTable.count);
    }
    for (const [i, d] of after.debug.entries()) {
      const was = before.debug[i];
      assert.deepEqual(
        r.bytes.subarray(d.pointerToRawData, d.pointerToRawData + d.sizeOfData),
        original.subarray(
          was.pointerToRawData,
          was.pointerToRawData + was.sizeOfData,
        ),
      );
    }
    {
      const o = await objdumpImports(r.bytes);
      assert.equal(o.code, 0, o.text);
      assert.deepEqual(o.dlls, names(r.bytes));
    }

    // Idempotent.
    const again = patchImportsBytes(r.bytes, { allowOverlay: true });
    assert.equal(again.action, "unchanged");
    assert.equal(again.bytes, r.bytes);

    // Undo.
    const u = removeImportBytes(r.bytes);
    assert.equal(u.action, "removed");
    assert.deepEqual(names(u.bytes), before.imports.map((d) => d.dll));
    if (!opts.certificate) {
      assert.deepEqual(u.bytes, original, "undo restores the original bytes");
    }
    checksumOk(u.bytes);
  });
}

Deno.test("patchImportsBytes() moves an imported DLL to the front in place", async () => {
  const original = buildPe();
  const r = patchImportsBytes(original, { dll: "ws2_32.DLL" });
  assert.equal(r.action, "moved");
  assert.equal(r.bytes.length, original.length);
  assert.deepEqual(names(r.bytes), [
    "WS2_32.dll",
    "KERNEL32.dll",
    "api-ms-win-crt-heap-l1-1-0.dll",
  ]);
  assert.deepEqual(
    info(r.bytes).imports[0].symbols,
    info(original).imports[2].symbols,
  );
  checksumOk(r.bytes);
  assert.equal(
    patchImportsBytes(r.bytes, { dll: "WS2_32.dll" }).action,
    "unchanged",
  );
  {
    assert.equal((await objdumpImports(r.bytes)).dlls[0], "WS2_32.dll");
  }
});

// Windows makes writable, while it fills them in, the IATs the IAT
// directory names; without one, the section holding the import directory
// (matched by its raw size, sized by its virtual size: ReactOS' and the
// NT loader's LdrpSnapIAT). Other IATs must be in writable sections.
function iatWritable(b: Uint8Array, rva: number): boolean {
  const h = info(b).headers;
  const iat = h.dataDirectories[DIR.IAT];
  let range = iat.rva !== 0 ? { rva: iat.rva, size: iat.size } : undefined;
  if (!range) {
    const imp = h.dataDirectories[DIR.IMPORT].rva;
    const s = h.sections.find((s) =>
      imp >= s.virtualAddress && imp < s.virtualAddress + s.sizeOfRawData
    );
    if (s) {
      range = { rva: s.virtualAddress, size: s.virtualSize || s.sizeOfRawData };
    }
  }
  if (range && rva >= range.rva && rva < range.rva + range.size) return true;
  const s = h.sections.find((s) =>
    rva >= s.virtualAddress &&
    rva < s.virtualAddress + Math.max(s.virtualSize, s.sizeOfRawData)
  );
  return s !== undefined && (s.characteristics & 0x80000000) !== 0;
}

Deno.test("patchImportsBytes() keeps a read-only IAT writable for the loader when the image names no IAT directory", () => {
  // The import directory and its IATs in one read-only section (as in
  // .rdata), no IAT directory: Windows unprotects that section to bind.
  const original = craftPe({
    body: importsBody({
      dll: "KERNEL32.dll",
      dlls: 1,
      thunks: 1,
      name: "ExitProcess",
    }),
  });
  const sec = info(original).headers.sections[0];
  put32(original, sec.headerOffset + 36, 0x40000040); // read, no write
  const before = info(original);
  assert.equal(before.headers.dataDirectories[DIR.IAT].rva, 0);
  assert.ok(iatWritable(original, before.imports[0].iatRva));

  const r = patchImportsBytes(original);
  for (const d of info(r.bytes).imports) {
    assert.ok(iatWritable(r.bytes, d.iatRva), `${d.dll}'s IAT stays writable`);
  }
  assert.deepEqual(removeImportBytes(r.bytes).bytes, original);

  // Undone field by field (headers edited since): no IAT directory again.
  const edited = r.bytes.slice();
  const opt = info(edited).headers.optionalHeaderOffset;
  edited[opt + 40] = 10; // MajorOperatingSystemVersion
  const u = removeImportBytes(edited);
  assert.match(u.warnings.join(), /not byte-identical/);
  assert.deepEqual(info(u.bytes).headers.dataDirectories[DIR.IAT], {
    rva: 0,
    size: 0,
  });
});

Deno.test("patchImportsBytes() that moves a DLL first in a bound image drops the bound order", () => {
  // A loader that walks the bound import directory loads in its order.
  const original = buildPe({
    bound: true,
    imports: [
      { dll: "KERNEL32.dll", symbols: ["ExitProcess"] },
      { dll: "heapshift.dll", symbols: ["heapshift_anchor"] },
    ],
  });
  assert.deepEqual(info(original).boundImports.map((b) => b.dll), [
    "KERNEL32.dll",
    "heapshift.dll",
  ]);
  const r = patchImportsBytes(original);
  assert.equal(r.action, "moved");
  const after = info(r.bytes);
  assert.deepEqual(after.imports.map((d) => d.dll), [
    "heapshift.dll",
    "KERNEL32.dll",
  ]);
  assert.deepEqual(after.boundImports, []);
  assert.deepEqual(after.imports.map((d) => d.timeDateStamp), [0, 0]);
  checksumOk(r.bytes);
});

Deno.test("patchImportsBytes() imports by ordinal and applies the postfix", () => {
  for (const format of ["PE32", "PE32+"] as const) {
    const r = patchImportsBytes(buildPe({ format }), {
      postfix: "-debug",
      symbol: 17,
    });
    const first = info(r.bytes).imports[0];
    assert.equal(first.dll, "heapshift-debug.dll");
    assert.deepEqual(first.symbols, [{ ordinal: 17 }]);
  }
  assert.equal(
    resolveDllName({ dll: "mimalloc-redirect.dll", postfix: "32" }),
    "mimalloc-redirect32.dll",
  );
  assert.equal(resolveDllName({ dll: "noext", postfix: "-x" }), "noext-x");
  assert.throws(() => resolveDllName({ dll: "a/b.dll" }), PePatchError);
  assert.throws(
    () => patchImportsBytes(buildPe(), { symbol: "" }),
    PePatchError,
  );
  assert.throws(
    () => patchImportsBytes(buildPe(), { symbol: 0x10000 }),
    PePatchError,
  );
});

Deno.test("resolveDllName() refuses a name Windows would not load as that file: a directory's ('.', '..'), one ending in '.' or ' ' (dropped when Windows looks), a device's (CON, NUL.dll, COM1.dll)", () => {
  for (
    const [dll, why] of [
      [".", /names a directory/],
      ["..", /names a directory/],
      ["x.dll.", /ends in '\.'/],
      ["x.dll ", /ends in ' '/],
      ["con.dll", /CON is a device's name/],
      ["NUL", /NUL is a device's name/],
      ["com1.dll", /COM1 is a device's name/],
      ["Lpt9.dll", /LPT9 is a device's name/],
      ["conin$.dll", /CONIN\$ is a device's name/],
    ] as const
  ) {
    assert.throws(() => resolveDllName({ dll }), (e: Error) => {
      assert.ok(e instanceof PePatchError, String(e));
      assert.match(e.message, why, dll);
      assert.match(e.message, /e\.g\. heapshift\.dll/, dll);
      return true;
    });
  }
  // a device's name only as the whole name before its extension
  for (
    const dll of [
      "console.dll",
      "con1.dll",
      "nul-x.dll",
      "a.con.dll",
      ".x.dll",
      // COM0 and LPT0 are ordinary names (only the documentation lists them)
      "com0.dll",
      "LPT0.dll",
    ]
  ) {
    assert.equal(resolveDllName({ dll }), dll);
  }
  // the postfix makes the name that is checked
  assert.throws(() => resolveDllName({ dll: "co.dll", postfix: "n" }), /CON/);
});

Deno.test("resolveDllName() refuses a name the import table cannot hold saying why, and what would do", () => {
  const advice = "name the DLL otherwise, e.g. heapshift.dll";
  for (
    const [dll, why] of [
      ["", "it is empty"],
      [" x.dll", "it starts with a space"],
      [
        "h\u00e9.dll",
        "it holds '\u00e9': an import table holds printable ASCII names",
      ],
      [
        "a\tb.dll",
        "it holds '\\x09': an import table holds printable ASCII names",
      ],
      ["a*b.dll", "it holds '*', which a file name cannot"],
      ["ab:c.dll", "it holds ':', which a file name cannot"],
      [
        `${"x".repeat(256)}.dll`,
        "it is 260 characters, longer than the 259 a DLL name may have",
      ],
    ] as const
  ) {
    for (const loadable of [true, false]) {
      assert.throws(() => resolveDllName({ dll }, { loadable }), (e: Error) => {
        assert.ok(e instanceof PePatchError, String(e));
        assert.equal(
          e.message,
          `invalid DLL name ${JSON.stringify(dll)}: ${why}: ${advice}`,
        );
        return true;
      });
    }
  }
  // the postfix makes the name that is checked
  assert.throws(
    () => resolveDllName({ dll: "hs.dll", postfix: "|" }),
    /: invalid DLL name "hs\|\.dll": it holds '\|', which a file name cannot: /,
  );
});

Deno.test("resolveDllName() for a removal takes any name an import table can hold: a program patched with it before still has it to remove", () => {
  for (const dll of ["x.dll.", "x.dll ", ".", "con.dll"]) {
    assert.equal(resolveDllName({ dll }, { loadable: false }), dll);
    assert.throws(() => resolveDllName({ dll }), PePatchError);
  }
  assert.throws(
    () => resolveDllName({ dll: "a/b.dll" }, { loadable: false }),
    PePatchError,
  );
});

Deno.test("patchImportsBytes() strips an Authenticode signature with a warning", () => {
  const original = buildPe({
    certificate: 256,
    overlay: new Uint8Array(8).fill(1),
  });
  for (const dll of ["heapshift.dll", "WS2_32.dll"]) {
    const r = patchImportsBytes(original, { dll, allowOverlay: true });
    assert.equal(r.warnings.filter((w) => /signature/.test(w)).length, 1);
    const after = info(r.bytes);
    assert.equal(after.certificate, undefined);
    assert.deepEqual(after.headers.dataDirectories[DIR.SECURITY], {
      rva: 0,
      size: 0,
    });
    assert.deepEqual(
      r.bytes.subarray(after.overlay!.offset),
      new Uint8Array(8).fill(1),
    );
  }
});

Deno.test("patchImportsBytes() works on an image without imports", () => {
  const r = patchImportsBytes(buildPe({ imports: [] }));
  assert.deepEqual(names(r.bytes), ["heapshift.dll"]);
  assert.deepEqual(removeImportBytes(r.bytes).bytes, buildPe({ imports: [] }));
});

Deno.test("patchImportsBytes() moves section data when the header area is full", async () => {
  // 0x400 bytes of headers hold 15 section headers after a PE32+ header.
  const original = buildPe({ extraSections: 12, symbols: 1, debug: true });
  const h0 = info(original).headers;
  assert.equal(h0.sizeOfHeaders, 0x400);
  const r = patchImportsBytes(original);
  assert.match(r.warnings.join("\n"), /moved down/);
  windowsMapsIt(r.bytes);
  const after = info(r.bytes);
  assert.equal(after.headers.sizeOfHeaders, 0x600);
  assert.equal(after.imports[0].dll, "heapshift.dll");
  for (const [i, s] of h0.sections.entries()) {
    if (i === 1) continue; // .rdata holds the debug entry, whose offset moved
    const t = after.headers.sections[i];
    assert.deepEqual(
      r.bytes.subarray(
        t.pointerToRawData,
        t.pointerToRawData + t.sizeOfRawData,
      ),
      original.subarray(
        s.pointerToRawData,
        s.pointerToRawData + s.sizeOfRawData,
      ),
    );
  }
  {
    const o = await objdumpImports(r.bytes);
    assert.equal(o.code, 0, o.text);
    assert.equal(o.dlls[0], "heapshift.dll");
  }
  const u = removeImportBytes(r.bytes);
  assert.deepEqual(u.bytes, original);
});

Deno.test("removeImportBytes() refuses a DLL heapshift did not add unless allowed", () => {
  const original = buildPe();
  assert.equal(removeImportBytes(original).action, "unchanged");
  assert.throws(
    () => removeImportBytes(original, { dll: "WS2_32.dll" }),
    PePatchError,
  );
  const r = removeImportBytes(original, {
    dll: "WS2_32.dll",
    allowForeign: true,
  });
  assert.deepEqual(names(r.bytes), [
    "KERNEL32.dll",
    "api-ms-win-crt-heap-l1-1-0.dll",
  ]);
  checksumOk(r.bytes);
});

Deno.test("removeImportBytes() of a patched file still refuses the DLLs it had before", () => {
  for (const format of ["PE32", "PE32+"] as const) {
    const patched = patchImportsBytes(buildPe({ format })).bytes;
    for (const dll of ["KERNEL32.dll", "WS2_32.dll"]) {
      assert.throws(
        () => removeImportBytes(patched, { dll }),
        PePatchError,
        `${format}: ${dll}`,
      );
    }
    assert.equal(removeImportBytes(patched).action, "removed");
  }
});

Deno.test("removeImportBytes() takes out an added DLL that is no longer last", () => {
  const once = patchImportsBytes(buildPe()).bytes;
  assert.throws(
    () => patchImportsBytes(once, { dll: "other.dll" }),
    (e) =>
      e instanceof PePatchError &&
      e.message.startsWith(
        "it already loads heapshift.dll, which heapshift added; remove that first",
      ),
  );
  const twice = patchImportsBytes(once, { dll: "other.dll", allowSecond: true })
    .bytes;
  assert.deepEqual(names(twice).slice(0, 2), ["other.dll", "heapshift.dll"]);
  const r = removeImportBytes(twice);
  assert.deepEqual(names(r.bytes), [
    "other.dll",
    ...DEFAULT_IMPORTS.map((d) => d.dll),
  ]);
  const r2 = removeImportBytes(twice, { dll: "other.dll" });
  assert.deepEqual(r2.bytes, once);
});

Deno.test("removeImportBytes() without a name takes out the one DLL heapshift added under another name", () => {
  const original = buildPe();
  const dbg = patchImportsBytes(original, { postfix: "-dbg" }).bytes;
  const r = removeImportBytes(dbg);
  assert.equal(r.action, "removed");
  assert.equal(r.dll, "heapshift-dbg.dll");
  assert.deepEqual(r.bytes, original);
  // Two of them: which one is for the caller to say.
  const two = patchImportsBytes(dbg, { dll: "other.dll", allowSecond: true })
    .bytes;
  assert.throws(
    () => removeImportBytes(two),
    (e) =>
      e instanceof PePatchError &&
      e.message ===
        "it does not import heapshift.dll, and heapshift added 2 other DLLs: other.dll, heapshift-dbg.dll; name the one to remove (dll, or --dll <name> on the command line)",
  );
  assert.deepEqual(removeImportBytes(two, { dll: "other.dll" }).bytes, dbg);
  // A name given is the one looked for.
  assert.equal(removeImportBytes(dbg, { dll: "heapshift.dll" }).changed, false);
});

Deno.test("remove gives back the exact bytes: CheckSum 0, bound size without RVA, garbage offsets", () => {
  for (const extraSections of [0, 12]) {
    // 12 extra sections fill the headers: the patch moves the data down.
    const original = buildPe({ extraSections, debug: true, symbols: 1 });
    const h = info(original).headers;
    put32(original, h.optionalHeaderOffset + 64, 0);
    put32(original, h.dataDirectoryOffset + DIR.BOUND_IMPORT * 8 + 4, 0x40);
    put32(original, h.sections[0].headerOffset + 24, 0xfffffff0);
    put32(original, h.sections[1].headerOffset + 28, 0x12345678);
    const r = patchImportsBytes(original);
    assert.equal(names(r.bytes)[0], "heapshift.dll");
    assert.equal(info(r.bytes).headers.checksum, 0, "no checksum stays none");
    const u = removeImportBytes(r.bytes);
    assert.deepEqual(u.warnings, []);
    assert.deepEqual(u.bytes, original, `${extraSections} extra sections`);
  }
});

Deno.test("headers edited after the patch: undone field by field, and said so", () => {
  const original = buildPe();
  const r = patchImportsBytes(original);
  const edited = r.bytes.slice();
  const opt = info(edited).headers.optionalHeaderOffset;
  edited[opt + 40] = 10; // MajorOperatingSystemVersion, by a tool that
  put32(edited, opt + 64, peChecksum(edited, opt + 64)); // sums it again
  const u = removeImportBytes(edited);
  assert.equal(u.action, "removed");
  assert.match(u.warnings.join(), /not byte-identical/);
  assert.deepEqual(names(u.bytes), names(original));
  assert.equal(u.bytes.length, original.length);
  assert.equal(u.bytes[opt + 40], 10, "the later edit is kept");
  checksumOk(u.bytes);
});

Deno.test("a signature that ended the file does not come back; one inside does", () => {
  const atEnd = buildPe({ certificate: 64 });
  const u = removeImportBytes(patchImportsBytes(atEnd).bytes);
  assert.match(u.warnings.join(), /signature .* cannot come back/);
  assert.equal(info(u.bytes).certificate, undefined);
  checksumOk(u.bytes);
  // A certificate followed by other data stays in the file: the undo
  // gives back the file, signature entry included.
  const inside = buildPe({ certificate: 64 });
  const grown = new Uint8Array(inside.length + 16);
  grown.set(inside);
  const h = info(grown).headers;
  put32(
    grown,
    h.optionalHeaderOffset + 64,
    peChecksum(grown, h.optionalHeaderOffset + 64),
  );
  const back = removeImportBytes(patchImportsBytes(grown).bytes);
  assert.deepEqual(back.warnings, []);
  assert.deepEqual(back.bytes, grown);
});

/** Stored CheckSum less the right one, mod 0xffff (0 when it is right). */
function checksumError(b: Uint8Array): number {
  const h = info(b).headers;
  const right = peChecksum(b, h.optionalHeaderOffset + 64);
  return (((h.checksum - right) % 0xffff) + 0xffff) % 0xffff;
}

Deno.test("the checksum is updated for what changed: right stays right, wrong stays as wrong", () => {
  const base = buildPe({ overlay: new Uint8Array(99).fill(7), symbols: 2 });
  const at = info(base).headers.optionalHeaderOffset + 64;
  // The last section's raw data one byte shorter: it ends at an odd
  // offset, so the overlay moves by an odd amount (its bytes change
  // places in their 16-bit words).
  const odd = base.slice();
  const last = info(odd).headers.sections[2];
  put32(odd, last.headerOffset + 16, last.sizeOfRawData - 1);
  put32(odd, at, peChecksum(odd, at));
  for (const [label, original] of [["even", base], ["odd", odd]] as const) {
    const r = patchImportsBytes(original, { allowOverlay: true });
    assert.equal(checksumError(r.bytes), 0, `${label}: right stays right`);
    const moved = patchImportsBytes(original, { dll: "WS2_32.dll" });
    assert.equal(checksumError(moved.bytes), 0, `${label}: moved`);
    // A stale checksum (as Wine's builtins have) is off by as much after.
    const stale = original.slice();
    put32(stale, at, u32(stale, at) + 1234);
    assert.equal(
      checksumError(patchImportsBytes(stale, { allowOverlay: true }).bytes),
      1234,
      label,
    );
  }
  // One that cannot be right (below the file's length) is made anew.
  const tiny = base.slice();
  put32(tiny, at, 1);
  assert.equal(
    checksumError(patchImportsBytes(tiny, { allowOverlay: true }).bytes),
    0,
  );
});

Deno.test("planPatch: a DLL gets a warning, and a header without an import directory slot says so", () => {
  const dll = buildPe();
  const h = info(dll).headers;
  const at = h.optionalHeaderOffset - 2; // IMAGE_FILE_HEADER.Characteristics
  dll[at + 1] |= 0x20; // IMAGE_FILE_DLL (0x2000)
  assert.match(
    patchImportsBytes(dll).warnings.join("\n"),
    /this is a DLL, not a program: heapshift\.dll loads when it does/,
  );
  const one = buildPe();
  put32(one, info(one).headers.dataDirectoryOffset - 4, 1); // NumberOfRvaAndSizes
  assert.throws(
    () => patchImportsBytes(one),
    (e) =>
      e instanceof PePatchError &&
      e.message ===
        "its optional header has 1 data directories (NumberOfRvaAndSizes), too few for directory 1; a normal Windows program has 16",
  );
});

Deno.test("patchImportsBytes() refuses to move data appended after the sections unless allowed", () => {
  // A payload found by its file offset (a .NET single-file bundle, an
  // installer's archive) breaks when the new section pushes it back.
  const payload = new Uint8Array(333).fill(0xab);
  const original = buildPe({ overlay: payload, symbols: 2 });
  const at = info(original).overlay!.offset;
  assert.throws(
    () => patchImportsBytes(original),
    (e: Error) =>
      e instanceof PePatchError &&
      e.message.includes(
        "it carries 333 bytes of data after its sections and COFF symbols",
      ) &&
      e.message.includes("launch or inject") &&
      e.message.includes("allowOverlay"),
  );
  const r = patchImportsBytes(original, { allowOverlay: true });
  const moved = r.warnings.find((w) => w.includes("data after the sections"));
  assert.ok(moved, r.warnings.join("\n"));
  const now = info(r.bytes).symbolTable!;
  const end = now.offset + now.size;
  assert.ok(moved.includes(`0x${end.toString(16)}`), moved);
  assert.deepEqual(r.bytes.subarray(end), payload);
  assert.ok(end > at);
  // Not a payload: COFF symbols, zero padding, a signature (stripped).
  for (
    const o of [
      { symbols: 2 },
      { overlay: new Uint8Array(512) },
      { certificate: 256 },
    ]
  ) {
    assert.equal(patchImportsBytes(buildPe(o)).action, "added");
  }
  // Moving a descriptor moves no file data.
  const imported = buildPe({
    overlay: payload,
    imports: [...DEFAULT_IMPORTS, { dll: "heapshift.dll", symbols: [1] }],
  });
  assert.equal(patchImportsBytes(imported).action, "moved");
});

Deno.test("COFF symbols that UPX moved to the end of the sections, its header still pointing where they were, are no payload; data after them is", () => {
  // UPX packs a MinGW program's sections smaller and copies what follows
  // them, its symbols, after the packed ones, keeping the header's count
  // but not its pointer.
  const packed = (overlay?: Uint8Array) => {
    const b = buildPe({ symbols: 40, overlay });
    const h = info(b).headers;
    put32(b, h.peOffset + 12, h.pointerToSymbolTable + 0x10000);
    assert.equal(info(b).symbolTable, undefined);
    return b;
  };
  const r = patchImportsBytes(packed());
  assert.equal(r.action, "added");
  assert.ok(!r.warnings.some((w) => /data after the sections/.test(w)));
  assert.deepEqual(removeImportBytes(r.bytes).bytes, packed());
  const payload = new Uint8Array(77).fill(0xcd);
  assert.throws(
    () => patchImportsBytes(packed(payload)),
    (e: Error) =>
      e instanceof PePatchError &&
      e.message.includes(
        "it carries 77 bytes of data after its sections and COFF symbols",
      ),
  );
});

Deno.test("patchImportsBytes() refuses a program that demands a valid signature (FORCE_INTEGRITY)", () => {
  for (const o of [{}, { certificate: 256 }]) {
    const b = buildPe(o);
    const flags = info(b).headers.optionalHeaderOffset + 70;
    b[flags] |= 0x80;
    assert.throws(
      () => patchImportsBytes(b),
      (e: Error) =>
        e instanceof PePatchError &&
        e.message.includes("FORCE_INTEGRITY") &&
        e.message.includes("Windows would refuse to start"),
    );
  }
});

Deno.test("patchImportsBytes() refuses to add a DLL beside another allocator override, warns beside mimalloc.dll", () => {
  for (const dll of ["mimalloc-redirect.dll", "MIMALLOC-OVERRIDE.DLL"]) {
    const b = buildPe({
      imports: [...DEFAULT_IMPORTS, { dll, symbols: [1] }],
    });
    assert.throws(
      () => patchImportsBytes(b),
      (e: Error) =>
        e instanceof PePatchError &&
        e.message.includes(`it loads ${dll}`) &&
        e.message.includes("mimalloc"),
    );
  }
  // Moving an import first adds no takeover.
  const moved = buildPe({
    imports: [...DEFAULT_IMPORTS, {
      dll: "mimalloc-redirect.dll",
      symbols: [1],
    }],
  });
  const m = patchImportsBytes(moved, { dll: "WS2_32.dll" });
  assert.equal(m.action, "moved");
  assert.match(m.warnings.join("\n"), /it loads mimalloc-redirect\.dll/);
  const linked = buildPe({
    imports: [...DEFAULT_IMPORTS, { dll: "mimalloc.dll", symbols: [1] }],
  });
  assert.match(
    patchImportsBytes(linked).warnings.join("\n"),
    /it loads mimalloc\.dll: if that is mimalloc's override build/,
  );
});

Deno.test("a signature cut short, or an entry of size 0, which Windows ignores, does not make a file unreadable", () => {
  const signed = buildPe({ certificate: 256 });
  const h = info(signed).headers;
  const sec = h.dataDirectoryOffset + DIR.SECURITY * 8;
  // Cut inside the certificate (an interrupted download): its bytes go.
  const cut = signed.slice(0, signed.length - 100);
  put32(cut, h.optionalHeaderOffset + 64, 0);
  const before = info(cut);
  assert.equal(before.certificate, undefined);
  assert.equal(before.damagedCertificate?.cutShort, true);
  const r = patchImportsBytes(cut);
  assert.match(r.warnings.join("\n"), /signature was cut short .*removed/);
  const after = info(r.bytes);
  assert.deepEqual(after.headers.dataDirectories[DIR.SECURITY], {
    rva: 0,
    size: 0,
  });
  assert.equal(after.imports[0].dll, "heapshift.dll");
  assert.equal(after.overlay, undefined, "the cut signature's bytes are gone");
  // Undone: the signature does not come back, and the file patches again.
  const back = removeImportBytes(r.bytes);
  assert.match(back.warnings.join(), /signature .* cannot come back/);
  assert.equal(patchImportsBytes(back.bytes).action, "added");
  assert.equal(
    patchImportsBytes(r.bytes, { dll: "other.dll", allowSecond: true }).action,
    "added",
  );
  // An offset with size 0: nothing says what lies there, so it is data,
  // and data after the sections is not moved unasked.
  const payload = buildPe({ overlay: new Uint8Array(5000).fill(0xab) });
  const p = info(payload);
  put32(payload, sec, p.overlay!.offset);
  put32(payload, sec + 4, 0);
  assert.equal(info(payload).damagedCertificate?.cutShort, false);
  assert.throws(
    () => patchImportsBytes(payload),
    /it carries 5000 bytes of data after its sections/,
  );
  const moved = patchImportsBytes(payload, { allowOverlay: true });
  assert.match(
    moved.warnings.join("\n"),
    /the signature entry does not fit the file; it was cleared/,
  );
});

Deno.test("a file too large to patch is refused before its appended data is read", () => {
  // 5 GiB: the program, then zeros (as a sparse file reads).
  const head = buildPe();
  let read = 0;
  const src = {
    size: 5 * 2 ** 30,
    read(offset: number, length: number) {
      read += length;
      const b = new Uint8Array(length);
      if (offset < head.length) b.set(head.subarray(offset, offset + length));
      return b;
    },
  };
  assert.throws(
    () => planPatch(src),
    (e) =>
      e instanceof PePatchError &&
      e.message === "the patched file would exceed 4 GiB",
  );
  assert.ok(read < 1 << 20, `${read} bytes read`);
});

Deno.test("patchImportsBytes() refuses a driver, a native program or an EFI image, which cannot load a Windows DLL", () => {
  // IMAGE_SUBSYSTEM_*: NATIVE, NATIVE_WINDOWS, EFI_APPLICATION, EFI boot
  // and runtime drivers, EFI_ROM, WINDOWS_BOOT_APPLICATION.
  for (const subsystem of [1, 8, 10, 11, 12, 13, 16]) {
    for (const o of [{}, { dll: true }]) {
      const b = buildPe(o);
      const at = info(b).headers.optionalHeaderOffset + 68;
      b[at] = subsystem;
      assert.throws(
        () => patchImportsBytes(b),
        (e: Error) =>
          e instanceof PePatchError &&
          /cannot load heapshift\.dll/.test(e.message) &&
          e.message.includes(`subsystem ${subsystem}`),
        `subsystem ${subsystem}`,
      );
      // Taking a DLL out is still allowed: that is how a mistake is undone.
      assert.equal(removeImportBytes(b).action, "unchanged");
    }
  }
  // Windows GUI and console programs are patched.
  for (const subsystem of [2, 3]) {
    const b = buildPe();
    b[info(b).headers.optionalHeaderOffset + 68] = subsystem;
    assert.equal(patchImportsBytes(b).action, "added");
  }
});

Deno.test("the new section follows the last one with no gap, whatever SizeOfImage's rounding", () => {
  // Windows maps an image whose SizeOfImage ends less than a
  // SectionAlignment past its sections (a 64 KiB alignment, a size rounded
  // to pages only); the new section must start where the last one ends,
  // not past SizeOfImage rounded up, which would leave a gap.
  const body = importsBody({ dlls: 1, thunks: 1, name: "f" });
  const exact = craftPe({ body, sectionAlignment: 0x10000 });
  const end = info(exact).headers.sizeOfImage;
  for (const sizeOfImage of [end, end + 0x1000, end + 0xf000]) {
    const b = craftPe({ body, sectionAlignment: 0x10000, sizeOfImage });
    windowsMapsIt(b);
    const r = patchImportsBytes(b);
    windowsMapsIt(r.bytes);
    assert.deepEqual(removeImportBytes(r.bytes).bytes, b);
  }
});

Deno.test("the new section follows the last one's memory, not its raw data past VirtualSize", () => {
  // Raw data longer than a section's VirtualSize rounded to SectionAlignment
  // is not mapped: a section placed after it would leave a gap, which
  // Windows refuses (Wine does not).
  for (const index of [0, 2]) {
    const b = growRawData(buildPe(), { index, extra: 0x1000 });
    windowsMapsIt(b);
    const r = patchImportsBytes(b);
    windowsMapsIt(r.bytes);
    assert.deepEqual(removeImportBytes(r.bytes).bytes, b);
  }
});

Deno.test("patching reads the bytes before the first section once, into place", () => {
  // Nothing stops a file from putting megabytes between its headers and
  // its first section's data; the patch copies them into its section (to
  // undo) beside the output's headers, and needs no third copy.
  const b = buildPe();
  const h = info(b).headers;
  const gap = 8 << 20;
  const file = new Uint8Array(b.length + gap);
  file.set(b.subarray(0, h.sizeOfHeaders));
  file.set(b.subarray(h.sizeOfHeaders), h.sizeOfHeaders + gap);
  for (const s of h.sections) {
    put32(file, s.headerOffset + 20, s.pointerToRawData + gap);
  }
  put32(file, h.optionalHeaderOffset + 64, 0); // CheckSum
  const mem = bytesSource(file);
  let largest = 0;
  const src = {
    size: mem.size,
    read(offset: number, length: number) {
      largest = Math.max(largest, length);
      return mem.read(offset, length);
    },
    readInto(offset: number, target: Uint8Array) {
      target.set(mem.read(offset, target.length));
    },
  };
  const r = renderPlan(planPatch(src), file);
  assert.equal(r.action, "added");
  assert.ok(largest < 1 << 20, `read ${largest} bytes at once`);
  assert.deepEqual(removeImportBytes(r.bytes).bytes, file);
});

Deno.test("patchImportsBytes() refuses a machine that does not match the optional header (x64 with PE32, x86 with PE32+)", () => {
  for (
    const [format, machine] of [["PE32+", 0x14c], ["PE32", 0x8664]] as const
  ) {
    const b = buildPe({ format });
    const h = info(b).headers;
    b[h.peOffset + 4] = machine & 0xff;
    b[h.peOffset + 5] = machine >> 8;
    assert.throws(
      () => patchImportsBytes(b),
      (e: Error) =>
        e instanceof PePatchError &&
        e.message.includes(`${format} optional header`) &&
        /Windows does not load/.test(e.message),
      format,
    );
  }
});

Deno.test("an invalid symbol or section name is refused saying what would do", () => {
  const refused = (options: PatchBytesOptions, message: string) =>
    assert.throws(
      () => patchImportsBytes(buildPe(), options),
      (e: Error) => e instanceof PePatchError && e.message === message,
      message,
    );
  const symbolAdvice =
    "name the DLL's export in 1 to 1024 printable ASCII characters, no spaces (heapshift.dll's is heapshift_anchor, the default), or give its ordinal, a whole number from 0 to 65535";
  refused({ symbol: "" }, `invalid symbol "": ${symbolAdvice}`);
  refused({ symbol: "my func" }, `invalid symbol "my func": ${symbolAdvice}`);
  refused({ symbol: 0x10000 }, `invalid symbol 65536: ${symbolAdvice}`);
  refused({ symbol: 1.5 }, `invalid symbol 1.5: ${symbolAdvice}`);
  const sectionAdvice =
    "a section name is 1 to 8 printable ASCII characters, no spaces, e.g. .hsimp (the default)";
  refused(
    { sectionName: ".toolong9" },
    `invalid section name ".toolong9": ${sectionAdvice}`,
  );
  refused({ sectionName: "" }, `invalid section name "": ${sectionAdvice}`);
  refused(
    { sectionName: ".a b" },
    `invalid section name ".a b": ${sectionAdvice}`,
  );
});

Deno.test("a section whose raw data starts in the headers (a packer's layout) is refused by the patcher, naming it, but still read", () => {
  // Windows loads it (upack puts raw data at 0x10): the section maps the
  // file from its first sector, headers included, so a new section header
  // or any header field the patch rewrites would change its bytes.
  for (const [ptr, size] of [[0x10, 0x1f0], [0x200, 0x200]]) {
    const b = buildPe();
    const h = info(b).headers;
    const text = h.sections[0];
    put32(b, text.headerOffset + 8, 0x200); // VirtualSize
    put32(b, text.headerOffset + 16, size);
    put32(b, text.headerOffset + 20, ptr);
    // The second case: SizeOfHeaders covering .text's raw data.
    if (ptr === 0x200) put32(b, h.optionalHeaderOffset + 60, 0x400);
    assert.deepEqual(names(b), names(buildPe()));
    assert.throws(
      () => patchImportsBytes(b),
      (e: unknown) => {
        assert.ok(e instanceof PePatchError, String(e));
        assert.match(
          e.message,
          new RegExp(
            `^section 0 \\("\\.text"\\) has its raw data at 0x${
              ptr.toString(16)
            }, inside the headers \\(SizeOfHeaders 0x${
              (ptr === 0x200 ? 0x400 : 0x200).toString(16)
            }\\), as packers lay files out: Windows maps those header bytes into the section, so a patch that rewrites the headers would change the program\\. Load heapshift with launch or inject instead, which leave the file as it is`,
          ),
        );
        return true;
      },
    );
  }
});

Deno.test("with a FileAlignment below 512 from a page of SectionAlignment up, patching is refused as Windows refuses the file", () => {
  // MiVerifyImageHeader refuses a FileAlignment that is neither a multiple
  // of 512 nor SectionAlignment: there is no such program to patch.
  const b = craftPe({
    body: importsBody({ dlls: 1, thunks: 1, name: "f" }),
    fileAlignment: 0x40,
  });
  assert.throws(
    () => patchImportsBytes(b),
    /IMAGE_OPTIONAL_HEADER\.FileAlignment.*0x40 is neither a multiple of 512 nor SectionAlignment \(0x1000\): Windows refuses to run this file/,
  );
});

Deno.test("a section with raw data at offset 0 is refused saying Windows zero-fills it, not that it holds the headers", () => {
  // XP's MiCreateImageFileMap makes such a section demand-zero: it holds no
  // header bytes, but moving section data would give it file bytes.
  const b = buildPe();
  const h = readPe(bytesSource(b)).headers;
  put32(b, h.sections[0].headerOffset + 20, 0); // PointerToRawData
  assert.throws(
    () => patchImportsBytes(b),
    (e: unknown) => {
      assert.ok(e instanceof PePatchError);
      assert.match(
        e.message,
        /section 0 \("\.text"\) has 0x200 bytes of raw data at file offset 0, which Windows does not read: it fills the section with zeros, and a patch that moves section data would give it file bytes instead\. Load heapshift with launch or inject instead/,
      );
      assert.doesNotMatch(e.message, /header bytes into the section/);
      return true;
    },
  );
});

Deno.test("resolveDllName() refuses a name longer than the 255 characters a file name may have (Windows could never find such a DLL), where a removal still takes it", () => {
  const long = `${"x".repeat(252)}.dll`; // 256 characters
  assert.throws(() => resolveDllName({ dll: long }), (e: Error) => {
    assert.ok(e instanceof PePatchError, String(e));
    assert.equal(
      e.message,
      `invalid DLL name ${
        JSON.stringify(long)
      }: it is 256 characters, longer than the 255 a file name may have, so Windows would never find it: name the DLL otherwise, e.g. heapshift.dll`,
    );
    return true;
  });
  assert.equal(resolveDllName({ dll: long }, { loadable: false }), long);
  const most = `${"x".repeat(251)}.dll`;
  assert.equal(resolveDllName({ dll: most }), most);
});
