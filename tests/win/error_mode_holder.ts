// A Worker of ffi_test's error mode tests: takes the mutex named `name` (as
// another program of the session could, first) and holds it until told to
// let go.
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { acquireMutex, createNamedMutex, releaseMutex } from "../../ffi/mod.ts";

let held: ReturnType<typeof createNamedMutex> | undefined;
self.onmessage = async (e: MessageEvent<{ name: string } | "release">) => {
  if (e.data === "release") {
    if (held) {
      releaseMutex(held);
      held.close();
    }
    held = undefined;
    self.postMessage("released");
    return;
  }
  held = createNamedMutex(e.data.name);
  // (a mutex belongs to the thread that took it: this Worker's)
  if (!await acquireMutex(held, 10_000)) throw new Error("not taken");
  self.postMessage("held");
};
