// Registry values as Windows uses them.
import assert from "node:assert/strict";
import { expandVars } from "./registry.ts";

Deno.test("registry: %NAME% expands from the environment, an unknown one stays", () => {
  const env = (k: string) =>
    ({ USERPROFILE: "C:\\Users\\José" } as Record<string, string>)[k];
  assert.equal(
    expandVars("%USERPROFILE%\\OneDrive\\Documents %NOPE%", env),
    "C:\\Users\\José\\OneDrive\\Documents %NOPE%",
  );
});
