import assert from "node:assert/strict";
import {
  loadedByHeapshift,
  markLoaded,
  unmarkedError,
} from "./_load_marker.ts";
import type { ModuleInfo } from "./module_list.ts";
import { isWindows, processSessionId, wideBytes } from "../ffi/mod.ts";

Deno.test("unmarkedError: a module whose mark cannot be looked at is not said to be the program's own, but unknown, with what to do", () => {
  const name = "Session\\2\\heapshift-loaded-42-10000-x.dll";
  const head = "Cannot eject x.dll from process 42: ";
  const unknown =
    "so whether heapshift loaded x.dll cannot be told: the program may have loaded it itself and still call it, so unloading it could crash the program; pass anyOrigin: true (--any-origin on the command line) to unload it whoever loaded it (a thread running in it still stops the eject), ";
  const cases = [
    [
      "unreachable",
      `it runs in session 2, whose names cannot be reached from this one (where heapshift marks the modules it loads: ${name}), ${unknown}or eject it from that session`,
    ],
    [
      "denied",
      `heapshift's mark of its load there (${name}) may not be opened by this user (access denied: it was made by another user, or by an elevated heapshift), ${unknown}or eject it as the user that injected it (elevated if that one was)`,
    ],
  ] as const;
  for (const [why, message] of cases) {
    const e = unmarkedError(42, {
      doing: "eject x.dll from",
      module: "x.dll",
      unseen: { why, name, session: 2 },
    });
    assert.equal(e.kind, "unsupported");
    assert.equal(e.message, head + message);
  }
});

Deno.test("unmarkedError: elsewhere, heapshift did not load it", () => {
  const e = unmarkedError(42, {
    doing: "eject x.dll from",
    module: "x.dll",
  });
  assert.equal(
    e.message,
    "Cannot eject x.dll from process 42: heapshift did not load x.dll (or has unloaded it already): the program may have loaded it itself and still call it, so unloading it could crash the program; pass anyOrigin: true (--any-origin on the command line) to unload it whoever loaded it (a thread running in it still stops the eject)",
  );
});

/** A module no process has loaded, at a base of its own, for marks. */
function unloaded(): ModuleInfo {
  const base = 0x7f00_0000_0000n +
    BigInt(crypto.getRandomValues(new Uint32Array(1))[0]) * 0x1_0000n;
  return { name: "unloaded.dll", path: "C:\\unloaded.dll", base, size: 0x1000 };
}

Deno.test({
  name:
    "markLoaded: a load into a program in another user's session is marked in that session's names (Session\\<id>\\), where its own session sees it",
  ignore: !isWindows,
  fn: () => {
    // Under Wine every program runs in one session: the test says this
    // process runs in another. The mark is held by the target (here this
    // process, which the test ends with).
    const its = processSessionId(Deno.pid);
    const mod = unloaded();
    let asked = 0;
    markLoaded(Deno.pid, mod, {
      session: () => asked++ === 0 ? its : its + 1,
    });
    assert.equal(asked, 2);
    assert.equal(loadedByHeapshift(Deno.pid, mod), true);
  },
});

/**
 * Creates the event `name` with a DACL that grants no one anything (the
 * mark of a heapshift run by another user, or elevated, which this one
 * may not open), for as long as the test holds it.
 */
function refusingEvent(name: string): Disposable {
  const lib = Deno.dlopen("kernel32.dll", {
    CreateEventW: {
      parameters: ["buffer", "i32", "i32", "buffer"],
      result: "pointer",
    },
    CloseHandle: { parameters: ["pointer"], result: "i32" },
  });
  // a self-relative SECURITY_DESCRIPTOR: its DACL at 20, with no entries
  const sd = new Uint8Array(28);
  const d = new DataView(sd.buffer);
  d.setUint8(0, 1); // SECURITY_DESCRIPTOR_REVISION
  d.setUint16(2, 0x8004, true); // SE_SELF_RELATIVE | SE_DACL_PRESENT
  d.setUint32(16, 20, true); // OffsetDacl
  d.setUint8(20, 2); // ACL_REVISION
  d.setUint16(22, 8, true); // AclSize
  const sa = new Uint8Array(24); // SECURITY_ATTRIBUTES (x64)
  const a = new DataView(sa.buffer);
  a.setUint32(0, 24, true);
  a.setBigUint64(
    8,
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(sd))),
    true,
  );
  const event = lib.symbols.CreateEventW(sa, 1, 0, wideBytes(name));
  assert.notEqual(event, null, "CreateEventW");
  return {
    [Symbol.dispose]() {
      lib.symbols.CloseHandle(event);
      lib.close();
    },
  };
}

Deno.test({
  name:
    "loadedByHeapshift: a mark this user may not open is not taken for no mark: whether heapshift loaded the module cannot be told",
  ignore: !isWindows,
  fn: () => {
    const mod = unloaded();
    const name = `Local\\heapshift-loaded-${Deno.pid}-${
      mod.base.toString(16)
    }-unloaded.dll`;
    using _mark = refusingEvent(name);
    assert.deepEqual(loadedByHeapshift(Deno.pid, mod), {
      why: "denied",
      name,
      session: processSessionId(Deno.pid),
    });
  },
});
