import assert from "node:assert/strict";
import { isSystemDll } from "./_system_dll.ts";

Deno.test("isSystemDll: Windows' own directories, not what lies deeper or beside them", () => {
  for (const root of ["C:\\Windows", "C:\\WINDOWS\\", "c:/windows"]) {
    for (
      const p of [
        "C:\\Windows\\System32\\version.dll",
        "C:\\windows\\syswow64\\USER32.dll",
        "\\\\?\\C:\\Windows\\System32\\version.dll",
        "C:\\Windows\\WinSxS\\amd64_microsoft.windows.common-controls_6595b64144ccf1df_6.0.19041.1_none\\comctl32.dll",
      ]
    ) assert.ok(isSystemDll(p, root), `${p} under ${root}`);
    for (
      const p of [
        // The SYSTEM account's profile: a service's own files.
        "C:\\Windows\\System32\\config\\systemprofile\\AppData\\Local\\heapshift\\dll\\heapshift-1.dll",
        "C:\\Windows\\Temp\\heapshift.dll",
        "C:\\Windows\\MyApp\\plugin.dll",
        "D:\\games\\version.dll",
        "Z:\\work\\build\\heapshift.dll",
      ]
    ) assert.ok(!isSystemDll(p, root), `${p} under ${root}`);
  }
});
