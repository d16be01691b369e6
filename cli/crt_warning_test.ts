// The warnings of patch, launch and inject for a program on another C
// runtime (msvcrt.dll, ucrtbased.dll): they go ahead, and say what that
// means, including the one way it can end the program.
import assert from "node:assert/strict";
import {
  loadedOtherRuntimeWarning,
  otherRuntimeWarning,
} from "./crt_warning.ts";
import { buildPe } from "../pe/_test_pe.ts";
import { dotnetImage } from "../pe/_test_crafted.ts";
import { withDir } from "../pe/_test_dir.ts";

Deno.test("otherRuntimeWarning, loadedOtherRuntimeWarning: a program on msvcrt.dll is told what heapshift takes over and that a plugin's block freed by its own free ends it on Windows; none once a plugin on the UCRT is loaded", async () => {
  await withDir(async (dir) => {
    const k32 = { dll: "KERNEL32.dll", symbols: ["ExitProcess"] };
    const write = async (name: string, crt: string, dll: boolean) => {
      const path = `${dir}/${name}`;
      await Deno.writeFile(
        path,
        buildPe({ dll, imports: [k32, { dll: crt, symbols: ["free"] }] }),
      );
      return { name, path };
    };
    const host = await write("host.exe", "msvcrt.dll", false);
    const plugin = await write(
      "plugin.dll",
      "api-ms-win-crt-heap-l1-1-0.dll",
      true,
    );
    const risk =
      /a block such a module allocates is mimalloc's: should host\.exe free it with its own C runtime's free \(memory a plugin hands over\), Windows ends the program \(dll\/README\.md, Known limits\)$/;
    const launched = await otherRuntimeWarning(host.path, "heapshift.dll");
    assert.match(launched!, /host\.exe uses the old C runtime \(msvcrt\.dll\)/);
    assert.match(launched!, risk);
    const injected = await loadedOtherRuntimeWarning([host], "heapshift.dll");
    assert.match(injected!, /none of its loaded modules the UCRT yet/);
    assert.match(injected!, risk);
    assert.equal(
      await loadedOtherRuntimeWarning([host, plugin], "heapshift.dll"),
      undefined,
    );
  });
});

Deno.test("loadedOtherRuntimeWarning: an IL-only .NET program (the .NET Framework's: its runtime is not on the UCRT) is warned of as a program on msvcrt.dll is; not once a native module of its on the UCRT is loaded", async () => {
  await withDir(async (dir) => {
    const app = { name: "tool.exe", path: `${dir}/tool.exe` };
    await Deno.writeFile(app.path, dotnetImage());
    const plugin = { name: "native.dll", path: `${dir}/native.dll` };
    await Deno.writeFile(
      plugin.path,
      buildPe({
        dll: true,
        imports: [{ dll: "ucrtbase.dll", symbols: ["malloc"] }],
      }),
    );
    const w = await loadedOtherRuntimeWarning([app], "heapshift.dll");
    assert.match(
      w ?? "",
      /^heapshift takes over the UCRT's allocator \(ucrtbase\.dll\), and tool\.exe is an IL-only \.NET program, whose runtime allocates through a C runtime of its own \(ucrtbase_clr0400\.dll, msvcr120_clr0400\.dll\), not ucrtbase\.dll, none of its loaded modules the UCRT yet: heapshift\.dll takes over only the allocations of a module it loads later that uses the UCRT \(a plugin\), though it reports itself live; a block such a module allocates is mimalloc's/,
    );
    assert.equal(
      await loadedOtherRuntimeWarning([app, plugin], "heapshift.dll"),
      undefined,
    );
  });
});

Deno.test("otherRuntimeWarning, loadedOtherRuntimeWarning: for a 32-bit program the free-risk is no certain end (Windows terminates a 32-bit process on a foreign HeapFree only with termination on heap corruption on)", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/old32.exe`;
    await Deno.writeFile(
      path,
      buildPe({
        format: "PE32",
        imports: [{ dll: "msvcrt.dll", symbols: ["free"] }],
      }),
    );
    const risk =
      /should old32\.exe free it with its own C runtime's free \(memory a plugin hands over\), Windows ends it if it runs with termination on heap corruption \(a 32-bit program built for Windows Vista or later, or one that turned it on\), else that free fails and the block stays allocated \(dll\/README\.md, Known limits\)$/;
    assert.match(
      (await otherRuntimeWarning(path, "heapshift32.dll"))!,
      risk,
    );
    assert.match(
      (await loadedOtherRuntimeWarning(
        [{ name: "old32.exe", path }],
        "heapshift32.dll",
      ))!,
      risk,
    );
  });
});

Deno.test("loadedOtherRuntimeWarning: an IL-only .NET program that runs 32-bit (32BITREQUIRED, as Visual Studio's 'Prefer 32-bit' sets) gets the 32-bit free-risk; one for any CPU (64-bit) the certain end", async () => {
  await withDir(async (dir) => {
    const app = { name: "tool.exe", path: `${dir}/tool.exe` };
    // ILONLY | 32BITREQUIRED | 32BITPREFERRED
    await Deno.writeFile(app.path, dotnetImage(0x1 | 0x2 | 0x20000));
    assert.match(
      (await loadedOtherRuntimeWarning([app], "heapshift32.dll"))!,
      /\(LocalFree\) \(memory a plugin hands over\), Windows ends it if it runs with termination on heap corruption .*, else that free fails/,
    );
    await Deno.writeFile(app.path, dotnetImage(0x1));
    assert.match(
      (await loadedOtherRuntimeWarning([app], "heapshift.dll"))!,
      /\(LocalFree\) \(memory a plugin hands over\), Windows ends the program \(dll/,
    );
  });
});

Deno.test("loadedOtherRuntimeWarning: a program that imports no C runtime DLL (one linked in, as MSVC's /MT and Rust's crt-static) is warned of as one on msvcrt.dll is; not once a module of its on the UCRT is loaded", async () => {
  await withDir(async (dir) => {
    const app = { name: "game.exe", path: `${dir}/game.exe` };
    await Deno.writeFile(
      app.path,
      buildPe({ imports: [{ dll: "KERNEL32.dll", symbols: ["HeapFree"] }] }),
    );
    const plugin = { name: "mod.dll", path: `${dir}/mod.dll` };
    await Deno.writeFile(plugin.path, buildPe({ dll: true }));
    const w = await loadedOtherRuntimeWarning([app], "heapshift.dll");
    assert.match(
      w ?? "",
      /^heapshift takes over the UCRT's allocator \(ucrtbase\.dll\), and game\.exe imports no C runtime DLL for its allocations \(it links one in, or uses none: neither it nor the DLLs it imports from beside it import ucrtbase\.dll or api-ms-win-crt-heap\), none of its loaded modules the UCRT yet: heapshift\.dll takes over only the allocations of a module it loads later that uses the UCRT \(a plugin\), though it reports itself live; a block such a module allocates is mimalloc's: should game\.exe free it with its own free/,
    );
    assert.equal(
      await loadedOtherRuntimeWarning([app, plugin], "heapshift.dll"),
      undefined,
    );
  });
});
