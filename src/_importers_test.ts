import assert from "node:assert/strict";
import { importersOf } from "./_importers.ts";
import type { ModuleInfo } from "./module_list.ts";
import { buildPe } from "../pe/_test_pe.ts";
import { DIR, readHeaders } from "../pe/headers.ts";
import { bytesSource } from "../pe/source.ts";
import { mappedSource } from "../pe/mapped.ts";
import { imageReader, mapImage } from "../pe/_test_mapped.ts";
import { put32 } from "../pe/_read.ts";

/** `b` with an export directory that points outside the image. */
function brokenExports(b: Uint8Array): Uint8Array {
  const h = readHeaders(bytesSource(b));
  put32(b, h.dataDirectoryOffset + DIR.EXPORT * 8, 0x7fff0000);
  put32(b, h.dataDirectoryOffset + DIR.EXPORT * 8 + 4, 0x100);
  return b;
}

Deno.test("importersOf finds static and delay-load importers, in any case", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-importers-" });
  try {
    const files: Record<string, Uint8Array> = {
      "prog.exe": buildPe({
        imports: [{ dll: "api-ms-win-crt-heap-l1-1-0.dll", symbols: ["free"] }],
      }),
      "static.dll": brokenExports(buildPe({
        imports: [{ dll: "DEP.DLL", symbols: ["f"] }],
      })),
      "delay.dll": buildPe({
        imports: [{ dll: "KERNEL32.dll", symbols: ["Sleep"] }],
        delayImports: [{ dll: "Dep", symbols: ["f"] }],
      }),
      "other.dll": buildPe({
        imports: [{ dll: "dep.dll.bak", symbols: ["f"] }],
      }),
      "dep.dll": buildPe({
        imports: [{ dll: "dep.dll", symbols: ["f"] }],
      }),
      // Its importers get dep.dll's f in their import tables.
      "fwd.dll": buildPe({
        imports: [],
        exports: {
          dll: "fwd.dll",
          names: ["f", "g"],
          forwarders: { f: "DEP.f" },
        },
      }),
    };
    const loaded: ModuleInfo[] = Object.keys(files).map((name, i) => ({
      name,
      path: `${dir}/${name}`,
      base: BigInt(i + 1) << 20n,
      size: 0x4000,
    }));
    for (const [name, bytes] of Object.entries(files)) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
    }
    // A module whose file is gone (renamed or deleted after it was
    // loaded): its imports are read from its image in the process, and
    // without one it may import anything.
    const gone: ModuleInfo = {
      name: "gone.dll",
      path: `${dir}/gone.dll`,
      base: 1n,
      size: 1,
    };
    loaded.push(gone);
    const goneImage = mapImage(buildPe({
      imports: [{ dll: "dep.dll", symbols: ["f"] }],
    }));
    const find = (mod: string) => loaded.find((m) => m.name === mod)!;
    const image = (m: ModuleInfo) => {
      if (m !== gone) throw new Error(`only gone.dll's file is missing`);
      return mappedSource(imageReader(goneImage));
    };
    const names = (mod: string) =>
      importersOf(loaded, find(mod), { image }).importers.map((m) => m.name);
    // dep.dll's own import of itself does not count.
    assert.deepEqual(names("dep.dll"), [
      "static.dll",
      "delay.dll",
      "fwd.dll",
      "gone.dll",
    ]);
    assert.deepEqual(names("static.dll"), []);
    assert.deepEqual(
      importersOf(loaded, {
        name: "UCRTBASE.DLL",
        path: "C:\\windows\\system32\\ucrtbase.dll",
        base: 2n,
        size: 1,
      }, { image }).importers.map((m) => m.name),
      ["prog.exe"],
    );
    // Without its image it is unreadable: eject must not count it out.
    for (
      const image of [undefined, () =>
        mappedSource(() => {
          throw new Error("no such memory");
        })]
    ) {
      const found = importersOf(loaded, find("dep.dll"), { image });
      assert.deepEqual(found.importers.map((m) => m.name), [
        "static.dll",
        "delay.dll",
        "fwd.dll",
      ]);
      assert.deepEqual(found.unreadable.map((m) => m.name), ["gone.dll"]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
