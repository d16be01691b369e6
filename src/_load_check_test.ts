import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { loadVerdict } from "./_load_check.ts";

Deno.test("loadVerdict: a module handle proves the DLL loaded, whatever the exit code", () => {
  // A program that ran and exited with STATUS_DLL_NOT_FOUND of its own
  // (a launcher passing on a child's status) before the check looked.
  assertEquals(
    loadVerdict({ handle: 0x7ff80000n, exitCode: 0xc0000135 }),
    "loaded",
  );
  assertEquals(
    loadVerdict({ handle: 0x10000000n, exitCode: undefined }),
    "loaded",
  );
});

Deno.test("loadVerdict: without proof, a loader status is the loader's failure", () => {
  for (const code of [0xc0000135, 0xc0000142, 0xc0000139, 0xc000007b]) {
    const v = loadVerdict({ handle: undefined, exitCode: code });
    assertEquals(typeof v === "object" && v.code, code);
  }
  assertEquals(loadVerdict({ handle: 0n, exitCode: 0xc0000142 }), {
    failure: "a DLL failed to initialise (STATUS_DLL_INIT_FAILED)",
    code: 0xc0000142,
  });
});

Deno.test("loadVerdict: any other exit means the program ran; running without the DLL is not-loaded", () => {
  assertEquals(loadVerdict({ handle: undefined, exitCode: 0 }), "ran");
  assertEquals(loadVerdict({ handle: undefined, exitCode: 0xc0000005 }), "ran");
  assertEquals(loadVerdict({ handle: 0n, exitCode: undefined }), "not-loaded");
  assertEquals(
    loadVerdict({ handle: undefined, exitCode: undefined }),
    "unknown",
  );
});
