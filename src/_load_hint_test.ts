import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import { loadHint } from "./_load_hint.ts";

Deno.test("loadHint: a DLL refused for its signature (error 577) names the program's code integrity policy, not a damaged file", () => {
  const hint = loadHint(577, { dll: "heapshift.dll", arch: "x64" });
  assert(hint.startsWith("; "), hint);
  for (
    const part of [
      "DLLs signed by Microsoft only",
      "Code integrity guard",
      "which heapshift.dll has not",
      "heapshift cannot be loaded into it",
    ]
  ) {
    assert(hint.includes(part), `${part} missing: ${hint}`);
  }
});

Deno.test("loadHint: another architecture's dependency (error 193); none for other errors", () => {
  assert(
    loadHint(193, { dll: "heapshift32.dll", arch: "x86" }).startsWith(
      "; heapshift32.dll is x86: a DLL it needs was found as a file of another architecture",
    ),
  );
  assertEquals(loadHint(5, { dll: "heapshift.dll", arch: "x64" }), "");
  assertEquals(loadHint(126, { dll: "heapshift.dll", arch: "x64" }), "");
});

Deno.test("loadHint: error 577 under a system-wide policy is not said to admit Microsoft's signature alone", () => {
  // Smart App Control and App Control admit DLLs whose signers (or, for
  // Smart App Control, whose reputation) they trust, in every program:
  // no per-program setting lifts them.
  const hint = loadHint(577, { dll: "heapshift.dll", arch: "x64" });
  assert(!/admits only DLLs signed by Microsoft/.test(hint), hint);
  for (
    const part of [
      "Smart App Control",
      "in every program",
      "a certificate Windows trusts",
    ]
  ) {
    assert(hint.includes(part), `${part} missing: ${hint}`);
  }
});
