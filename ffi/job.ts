/**
 * A job object that ends its processes when heapshift ends: what a process
 * started by heapshift is held in until it is known to be in a state it may
 * be left in.
 *
 * @module
 */

import { checkBool, fail } from "./win32_error.ts";
import { Handle } from "./handle.ts";
import { kernel32 } from "./library.ts";

// JOBOBJECTINFOCLASS JobObjectExtendedLimitInformation, and
// JOBOBJECT_EXTENDED_LIMIT_INFORMATION (x64: 144 bytes, LimitFlags at 16).
const EXTENDED_LIMIT_INFORMATION = 9;
const EXTENDED_LIMIT_SIZE = 144;
const LIMIT_FLAGS_OFFSET = 16;
const KILL_ON_JOB_CLOSE = 0x2000;
// the processes it starts are not in the job, and one it starts with
// CREATE_BREAKAWAY_FROM_JOB is not refused (as it would be otherwise)
const BREAKAWAY = 0x0800 | 0x1000; // BREAKAWAY_OK | SILENT_BREAKAWAY_OK

function setLimitFlags(job: Handle, flags: number): void {
  const info = new Uint8Array(EXTENDED_LIMIT_SIZE);
  new DataView(info.buffer).setUint32(LIMIT_FLAGS_OFFSET, flags, true);
  checkBool(
    "SetInformationJobObject",
    kernel32().SetInformationJobObject(
      job.raw,
      EXTENDED_LIMIT_INFORMATION,
      info,
      info.length,
    ),
  );
}

/**
 * A process held in a job with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`: if
 * this process ends before {@linkcode KillOnExit.release} (Ctrl+C, a
 * crash, `TerminateProcess`), Windows closes the job's handle and ends the
 * held process. Release lifts the limit (the process stays in a job that
 * limits nothing; processes it starts are outside it); closing without
 * release ends the process.
 */
export class KillOnExit implements Disposable {
  #job: Handle;

  private constructor(job: Handle) {
    this.#job = job;
  }

  /**
   * Puts `process` (created suspended, so that it has started nothing
   * yet) into a new such job. Throws a Win32Error when it cannot be (a
   * job of ours that forbids it; then the caller goes on without).
   */
  static hold(process: Handle): KillOnExit {
    const raw = kernel32().CreateJobObjectW(null, null);
    if (raw === null) fail("CreateJobObjectW");
    const job = new Handle(raw);
    try {
      setLimitFlags(job, KILL_ON_JOB_CLOSE | BREAKAWAY);
      checkBool(
        "AssignProcessToJobObject",
        kernel32().AssignProcessToJobObject(job.raw, process.raw),
      );
    } catch (e) {
      job.close();
      throw e;
    }
    return new KillOnExit(job);
  }

  /**
   * Lets the process outlive this one, then closes the job's handle. If
   * the limit cannot be lifted the handle stays open (closing it would end
   * the process), and the Win32Error is thrown.
   */
  release(): void {
    if (this.#job.closed) return;
    setLimitFlags(this.#job, BREAKAWAY);
    this.#job.close();
  }

  /** Closes the job's handle: ends the process unless released. */
  close(): void {
    this.#job.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
