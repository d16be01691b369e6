// A Worker of ffi_test's error mode test: creates the program it is sent,
// suspended, with the error mode it is sent, `count` times (each ended at
// once), as another thread of the same process does meanwhile.
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { createProcess, terminateProcess } from "../../ffi/mod.ts";
import { quoteArg } from "../../src/command_line.ts";

self.onmessage = (
  e: MessageEvent<{ exe: string; mode: number; count: number }>,
) => {
  const { exe, mode, count } = e.data;
  for (let i = 0; i < count; i++) {
    const created = createProcess(exe, quoteArg(exe), {
      suspended: true,
      stdio: "none",
      errorMode: mode,
    });
    try {
      terminateProcess(created.process, 1);
    } finally {
      created.process.close();
      created.thread.close();
    }
  }
  self.postMessage("done");
};
