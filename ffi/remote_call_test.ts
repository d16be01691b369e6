import assert from "node:assert/strict";
import { callRemote } from "./remote_call.ts";
import { Handle } from "./handle.ts";
import { ERROR, Win32Error } from "./win32_error.ts";
import { MACHINE } from "./process.ts";

Deno.test("callRemote refuses a 32-bit call beyond 4 GiB with a typed error, before touching the process", async () => {
  // Never used: the address is refused first (so this runs anywhere).
  const process = new Handle(Deno.UnsafePointer.create(4n)!);
  const e = await callRemote(process, 0x1_0000_0000n, {
    machine: MACHINE.I386,
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(e instanceof Win32Error, `${e}`);
  assert.equal(e.code, ERROR.NOT_ENOUGH_MEMORY);
  assert.equal(e.call, "CreateRemoteThread");
  assert.equal(
    e.message,
    "CreateRemoteThread failed: the function is at 0x100000000, beyond 4 GiB: not reachable from the 32-bit target (error 8)",
  );
});
