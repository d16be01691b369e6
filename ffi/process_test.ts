import assert from "node:assert/strict";
import { MACHINE, runningMachine } from "./process.ts";

Deno.test("runningMachine: an x64 process on ARM64 Windows, which IsWow64Process2 reports as no WOW64 process (UNKNOWN) on ARM64, runs as x64 by its machine type info", () => {
  const asked: string[] = [];
  const info = (m: number | undefined) => () => {
    asked.push("info");
    return m;
  };
  // x64 emulated on ARM64 (Windows 11): the machine type info tells.
  assert.deepEqual(
    runningMachine({ process: MACHINE.UNKNOWN, native: MACHINE.ARM64 }, {
      imageMachine: info(MACHINE.AMD64),
    }),
    { process: MACHINE.AMD64, native: MACHINE.ARM64 },
  );
  // A native ARM64 process; and where the class is unknown, the native one.
  assert.deepEqual(
    runningMachine({ process: MACHINE.UNKNOWN, native: MACHINE.ARM64 }, {
      imageMachine: info(MACHINE.ARM64),
    }),
    { process: MACHINE.ARM64, native: MACHINE.ARM64 },
  );
  assert.deepEqual(
    runningMachine({ process: MACHINE.UNKNOWN, native: MACHINE.ARM64 }, {
      imageMachine: info(undefined),
    }),
    { process: MACHINE.ARM64, native: MACHINE.ARM64 },
  );
  asked.length = 0;
  // On x64 Windows nothing more is asked: x64 and WOW64's x86 as before.
  assert.deepEqual(
    runningMachine({ process: MACHINE.UNKNOWN, native: MACHINE.AMD64 }, {
      imageMachine: info(MACHINE.ARM64),
    }),
    { process: MACHINE.AMD64, native: MACHINE.AMD64 },
  );
  assert.deepEqual(
    runningMachine({ process: MACHINE.I386, native: MACHINE.AMD64 }, {
      imageMachine: info(MACHINE.ARM64),
    }),
    { process: MACHINE.I386, native: MACHINE.AMD64 },
  );
  // x86 under WOW64 on ARM64: IsWow64Process2 says so itself.
  assert.deepEqual(
    runningMachine({ process: MACHINE.I386, native: MACHINE.ARM64 }, {
      imageMachine: info(MACHINE.ARM64),
    }),
    { process: MACHINE.I386, native: MACHINE.ARM64 },
  );
  assert.deepEqual(asked, []);
});
