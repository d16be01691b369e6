// The pure parts of the API: command-line quoting, DLL checks, the stats
// block decoder.
import { checkDll, firstExportOrdinal } from "../../dll_file.ts";
import { HeapshiftError, quoteArg } from "../../mod.ts";
import { peKind } from "../../pe_image.ts";
import { parseStats, STATS_MAGIC, STATS_SIZE } from "../../stats_layout.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { fixture } from "./harness.ts";

Deno.test("quoteArg follows the MSVC command-line rules", () => {
  assertEquals(quoteArg("plain"), "plain");
  assertEquals(quoteArg(""), '""');
  assertEquals(quoteArg("two words"), '"two words"');
  assertEquals(quoteArg('say "hi"'), '"say \\"hi\\""');
  assertEquals(quoteArg("C:\\dir with space\\"), '"C:\\dir with space\\\\"');
  assertEquals(quoteArg("a\\\\b"), "a\\\\b");
  assertEquals(quoteArg('a\\"b'), '"a\\\\\\"b"');
});

Deno.test("checkDll and firstExportOrdinal on real files", () => {
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

function block(edit: (v: DataView) => void): Uint8Array {
  const b = new Uint8Array(STATS_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, STATS_MAGIC, true);
  v.setUint32(4, 1, true);
  v.setUint32(8, STATS_SIZE, true);
  v.setUint32(36, 64, true);
  v.setUint32(40, 4096, true);
  v.setUint32(44, 128, true);
  v.setUint32(48, 4096 - 128, true);
  edit(v);
  return b;
}

Deno.test("parseStats: states, versions and refusals", () => {
  const s = parseStats(
    9,
    block((v) => {
      v.setUint32(12, 3, true);
      v.setUint32(52, 87, true);
      v.setUint32(20, 212, true);
      v.setUint32(24, 0x010203, true);
    }),
  );
  assertEquals(s.state, "failed");
  assertEquals(s.error, 87);
  assertEquals(s.mimallocVersion, "2.1.2");
  assertEquals(s.dllVersion, "1.2.3");
  assertEquals(s.liveSince, null);
  assertEquals(s.hooked, []);
  assertEquals(s.counters.allocs, 0);

  const e = assertThrows(
    () => parseStats(9, block((v) => v.setUint32(0, 0, true))),
    HeapshiftError,
    "Cannot read heapshift's stats of process 9: the block is not initialised",
  );
  assertEquals(e.kind, "failed");
  assertThrows(
    () => parseStats(9, block((v) => v.setUint32(4, 2, true))),
    HeapshiftError,
    "the block has layout v2, this heapshift reads v1",
  );
  assertThrows(
    () => parseStats(9, block((v) => v.setUint32(40, 8000, true))),
    HeapshiftError,
    "offsets are out of range",
  );
  assert(parseStats(9, block(() => {})).state === "loading");
});
