// The DLL checks on real files built by tasks/fixtures.ts. (The pure parts
// of the API, such as quoteArg and parseStats, are unit-tested beside their
// modules and run on every OS.)
import { checkDll, firstExportOrdinal } from "../../src/_dll_file.ts";
import { HeapshiftError } from "../../mod.ts";
import { peKind } from "../../src/_image_kind.ts";
import { assertEquals, assertThrows } from "./assert.ts";
import { fixture, test } from "./harness.ts";

test("checkDll and firstExportOrdinal on real files", () => {
  assertEquals(checkDll(fixture("probe.dll")), fixture("probe.dll"));
  assertEquals(firstExportOrdinal(fixture("probe.dll")), 1);
  assertEquals(firstExportOrdinal(fixture("api_early.dll")), 1);
  assertEquals(peKind(Deno.readFileSync(fixture("sleeper.exe"))), {
    machine: 0x8664,
    dll: false,
  });
  assertThrows(
    () => checkDll(fixture("sleeper.exe")),
    HeapshiftError,
    "not a DLL (it is an executable)",
  );
});
