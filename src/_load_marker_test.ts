import assert from "node:assert/strict";
import { unmarkedError } from "./_load_marker.ts";

Deno.test("unmarkedError: a module in another user's session is not said to be the program's own, but unknown", () => {
  const e = unmarkedError(42, {
    doing: "eject x.dll from",
    module: "x.dll",
    session: 2,
  });
  assert.equal(e.kind, "unsupported");
  assert.equal(
    e.message,
    "Cannot eject x.dll from process 42: it runs in another user's session (2), whose names (where heapshift marks the modules it loads) this one does not see, so whether heapshift loaded x.dll cannot be told: the program may have loaded it itself and still call it, so unloading it could crash the program; pass anyOrigin: true (--any-origin on the command line) to unload it whoever loaded it (a thread running in it still stops the eject), or eject it from that session",
  );
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
