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
      "only DLLs signed by Microsoft",
      "Code integrity guard",
      "which heapshift.dll is not",
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
