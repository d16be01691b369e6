import assert from "node:assert/strict";
import { type ModuleInfo, moduleNamed } from "./module_list.ts";

const mod = (path: string): ModuleInfo => ({
  name: path.slice(path.lastIndexOf("\\") + 1),
  path,
  base: 0x1000n,
  size: 0x1000,
});

// inject and eject name a DLL by the path they were given; the loader lists
// it without a \\?\ (which only skips the Win32 rewriting of a name): a
// second inject took it for another DLL and added a reference for good.
Deno.test("moduleNamed: a path given with a \\\\?\\ or \\\\?\\UNC\\ prefix finds the module listed without it, and the other way round", () => {
  const list = [
    mod("C:\\Games\\probe.dll"),
    mod("\\\\server\\share\\tools\\tool.dll"),
    mod("\\\\?\\D:\\Long\\other.dll"),
  ];
  assert.equal(moduleNamed(list, "\\\\?\\c:\\games\\PROBE.dll"), list[0]);
  assert.equal(
    moduleNamed(list, "\\\\?\\UNC\\server\\share\\tools\\tool.dll"),
    list[1],
  );
  assert.equal(moduleNamed(list, "D:\\Long\\other.dll"), list[2]);
  assert.equal(moduleNamed(list, "probe.dll"), list[0]);
  assert.equal(moduleNamed(list, "\\\\?\\C:\\Games\\other.dll"), undefined);
  assert.equal(moduleNamed(list, "\\\\?\\C:\\Games"), undefined);
});
