import assert from "node:assert/strict";
import { underSysnative, wow64Path } from "./_wow64_path.ts";

const ROOT = "C:\\Windows";

Deno.test("wow64Path: System32 and its subfolders are SysWOW64's, in any case and with any separator", () => {
  assert.equal(
    wow64Path("C:\\Windows\\System32", ROOT),
    "C:\\Windows\\SysWOW64",
  );
  assert.equal(
    wow64Path("c:\\windows\\system32\\", ROOT),
    "c:\\windows\\SysWOW64",
  );
  assert.equal(
    wow64Path("C:/WINDOWS/System32/Wbem", ROOT),
    "C:\\WINDOWS\\SysWOW64\\Wbem",
  );
  assert.equal(
    wow64Path("C:\\Windows\\system32", "C:\\Windows\\"),
    "C:\\Windows\\SysWOW64",
  );
});

Deno.test("wow64Path: the exempt folders, other folders and other roots stay as they are", () => {
  for (
    const dir of [
      "C:\\Windows\\System32\\drivers\\etc",
      "C:\\Windows\\System32\\spool\\drivers",
      "C:\\Windows\\System32\\catroot2",
      "C:\\Windows\\System32\\DriverStore\\FileRepository",
      "C:\\Windows\\System32x",
      "C:\\Windows",
      "C:\\Program Files\\Tool",
      "D:\\Windows\\System32",
    ]
  ) {
    assert.equal(wow64Path(dir, ROOT), dir);
  }
  // drivers itself is redirected; only drivers\etc is exempt
  assert.equal(
    wow64Path("C:\\Windows\\System32\\drivers", ROOT),
    "C:\\Windows\\SysWOW64\\drivers",
  );
});

// The redirector works on the NT path (\??\C:\Windows\System32\…): a \\?\
// path, which only skips the Win32 rewriting of a name, is redirected too.
Deno.test("wow64Path: a \\\\?\\ or \\\\.\\ path under System32 is redirected too, its prefix kept", () => {
  assert.equal(
    wow64Path("\\\\?\\C:\\Windows\\System32\\probe.dll", ROOT),
    "\\\\?\\C:\\Windows\\SysWOW64\\probe.dll",
  );
  assert.equal(
    wow64Path("\\\\.\\c:\\windows\\system32", ROOT),
    "\\\\.\\c:\\windows\\SysWOW64",
  );
  for (
    const dir of [
      "\\\\?\\C:\\Windows\\System32\\drivers\\etc",
      "\\\\?\\D:\\Windows\\System32",
      "\\\\?\\UNC\\server\\C$\\Windows\\System32",
    ]
  ) {
    assert.equal(wow64Path(dir, ROOT), dir);
  }
});

// Sysnative is WOW64's alias for the real System32, which only a 32-bit
// process has (the 64-bit Deno has no such folder): what it names is
// System32's file, read there.
Deno.test("wow64Path: Sysnative and what is under it are System32's, exempt folders and \\\\?\\ paths alike", () => {
  assert.equal(
    wow64Path("C:\\Windows\\Sysnative\\probe.dll", ROOT),
    "C:\\Windows\\System32\\probe.dll",
  );
  assert.equal(
    wow64Path("c:/windows/SYSNATIVE/", ROOT),
    "c:\\windows\\System32",
  );
  assert.equal(
    wow64Path("C:\\Windows\\Sysnative\\drivers\\etc\\hosts", ROOT),
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
  );
  assert.equal(
    wow64Path("\\\\?\\C:\\Windows\\Sysnative\\x.dll", ROOT),
    "\\\\?\\C:\\Windows\\System32\\x.dll",
  );
  for (const dir of ["C:\\Windows\\Sysnativex", "D:\\Windows\\Sysnative"]) {
    assert.equal(wow64Path(dir, ROOT), dir);
  }
  assert.equal(
    underSysnative("\\\\?\\c:\\windows\\sysnative\\x.dll", ROOT),
    true,
  );
  assert.equal(underSysnative("C:/Windows/Sysnative", ROOT), true);
  assert.equal(underSysnative("C:\\Windows\\System32\\x.dll", ROOT), false);
  assert.equal(underSysnative("C:\\Windows\\Sysnativex", ROOT), false);
});
