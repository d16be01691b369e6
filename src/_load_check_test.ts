import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
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

Deno.test("loadVerdict: a DLL refused for its signature at start (STATUS_INVALID_IMAGE_HASH) is the loader's failure, said as a policy", () => {
  // A program with a code integrity policy (Microsoft-signed only, from
  // Exploit protection or a launcher) ends with 0xC0000428 at start when a
  // static import is not signed: it never ran.
  const v = loadVerdict({ handle: undefined, exitCode: 0xc0000428 });
  assert(typeof v === "object", String(v));
  assertEquals(v.code, 0xc0000428);
  assert(v.failure.includes("STATUS_INVALID_IMAGE_HASH"), v.failure);
  assert(v.failure.includes("DLLs signed by Microsoft only"), v.failure);
});
