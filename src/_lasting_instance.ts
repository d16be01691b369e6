/**
 * A wait for a program that ends in the instance of it that keeps running
 * (internal: `inject NAME --wait`'s, and {@linkcode injectLasting}'s). A game that Steam must start, started otherwise
 * (SteamAPI_RestartAppIfNecessary), has Steam start it again and exits
 * within a second or so, and some launchers restart their game the same
 * way: the instance found first ends, taken over or not, and another of
 * the same name is the game. So each instance taken over is watched for
 * {@linkcode HANDOFF_WATCH_MS}, as `launch` watches a launcher; one that
 * ends meanwhile (not of a crash) is said, and the next new instance is
 * waited for and taken over in its place.
 *
 * @module
 */

/**
 * How long an instance taken over is watched by default: a launcher hands
 * over, and a game that Steam restarts exits, within a second or two of
 * its start.
 */
export const HANDOFF_WATCH_MS = 2_000;

/** A process of the program waited for. */
export interface Instance {
  pid: number;
  name: string;
}

/** A running instance whose pid is not in `seen`, if any. */
export type FindInstance = (seen: ReadonlySet<number>) => Instance | undefined;

/** An instance held open while it is taken over: its end can be told. */
export interface HeldInstance extends Disposable {
  /** Its exit code once it has ended, else undefined. */
  exitCode(): number | undefined;
  /** Its exit code if it ends within `ms`, else undefined. */
  endsWithin(ms: number): Promise<number | undefined>;
}

/** What the wait reads of a process held open (an AttachedProcess). */
export interface Attached {
  exitCode(): number | undefined;
  wait(options: { timeout: number }): Promise<number>;
}

/**
 * `attached` as an instance held: an end that cannot be told is taken for
 * none (it runs on); `dispose` is what the wait's end does with it.
 */
export function heldBy(
  attached: Attached,
  dispose: () => void = () => {},
): HeldInstance {
  return {
    exitCode() {
      try {
        return attached.exitCode();
      } catch {
        return undefined;
      }
    },
    async endsWithin(ms) {
      try {
        return await attached.wait({ timeout: ms });
      } catch {
        return undefined; // (a timeout: it runs on)
      }
    },
    [Symbol.dispose]: dispose,
  };
}

/**
 * An instance that could not be opened (not gone: another user's, or one
 * that guards itself), taken over all the same, unwatched: its takeover
 * says why it cannot be reached.
 */
export const UNWATCHED: HeldInstance = {
  exitCode: () => undefined,
  endsWithin: () => Promise.resolve(undefined),
  [Symbol.dispose]() {},
};

/** An instance that ended before one that runs on was found. */
export interface EndedInstance {
  /** Its process id. */
  pid: number;
  /** Undefined when it had gone before it could be held. */
  exitCode?: number;
  /** Whether it was taken over (its takeover seen) before it ended. */
  takenOver: boolean;
}

/** What a takeover resolves with: `ended` when the program ended first. */
export interface TakeoverResult {
  state?: "live" | "ended";
}

/** How {@linkcode takeOverLasting} finds, holds and takes over instances. */
export interface LastingSteps<
  R extends TakeoverResult,
  H extends HeldInstance,
> {
  /** The program's file name, as said. */
  name: string;
  /** How long to wait for an instance to start (each time), in seconds. */
  seconds: number;
  /** A running instance not in `seen` (those taken so far), if any. */
  find: FindInstance;
  /** The error when no instance at all starts within `seconds`. */
  noneStarted: string;
  /** Holds `p` open; undefined when it has ended already (gone). */
  hold: (p: Instance) => H | undefined;
  /** Takes `p` over; it throws (or says `ended`) when it fails or ends. */
  takeOver: (p: Instance, held: H) => Promise<R>;
  /** Says on stderr what happened to an instance, and what comes next. */
  notice: (text: string) => void;
  /** How long an instance taken over is watched (default 2 s). */
  watchMs?: number;
  /**
   * The error for `text`: `timeout` when no instance started in time,
   * `ended` when the last to start ended and none taken over runs,
   * `failed` for a crash before a takeover or too many instances;
   * `exitCode`, the instance's, when it ended or crashed and it was read.
   */
  fail: (
    text: string,
    kind: "timeout" | "ended" | "failed",
    exitCode?: number,
  ) => Error;
  /** The crash behind an exit code, if any (`crashStatus`). */
  crashOf: (exitCode: number) => string | undefined;
  /**
   * How a failed takeover of an instance that then ended is said after its
   * end; undefined (or no such step): not said, as when it failed for that
   * end.
   */
  failureText?: (failure: unknown) => string | undefined;
  /** What to do when no other instance started in time, said after it. */
  waitLonger: string;
  /** What to do once too many instances ended ({@linkcode MAX_FOLLOWED}). */
  followNoFurther: string;
}

/** The instance taken over that keeps running, or the last one that ended. */
export interface Lasting<R> {
  instance: Instance;
  result: R;
  /** Its exit code, when it ended within the watch. */
  exitCode?: number;
  /** What to warn of: it crashed, or it ended and no other started. */
  warning?: string;
  /** The instances that ended before it, in order. */
  ended: EndedInstance[];
}

/** How often the running processes are looked at while waiting. */
const POLL_MS = 50;

/**
 * How many instances that end are followed: a launcher's handoff or
 * Steam's restart takes one or two; a program that restarts itself for
 * ever must not hold the wait (and a handle of each) for ever.
 */
const MAX_FOLLOWED = 16;

/**
 * Takes over `first` (an instance running already), else the first new
 * instance of the program, and, when it ends within the watch, the next
 * one to start, until one runs on past the watch. An instance that ended
 * and no other starting within `seconds` after it: returned with a
 * warning if it was taken over, else an error. A crash ends the wait
 * (heapshift may be the cause): said, not passed over.
 */
export async function takeOverLasting<
  R extends TakeoverResult,
  H extends HeldInstance,
>(
  first: Instance | undefined,
  steps: LastingSteps<R, H>,
): Promise<Lasting<R>> {
  const seen = new Set<number>();
  // Each held to the end: Windows may give a pid whose last handle is
  // closed to the next process at once, the next instance among them.
  using kept = new DisposableStack();
  const ended: EndedInstance[] = [];
  // The failure of each takeover passed over, said if it was the last.
  const failures = new Map<number, unknown>();
  let last: Lasting<R> | undefined; // the last one taken over, ended
  let next = first;
  // The pid of the instance last found gone, and the end of the wait after
  // it, while no other is found.
  let gone: { pid: number; deadline: number } | undefined;
  for (;;) {
    const p = next ?? await started(seen, { ...steps, until: gone?.deadline });
    next = undefined;
    if (p === undefined) return noneAfter(ended, { last, steps, failures });
    const held = steps.hold(p);
    if (held === undefined) {
      // Not held, its pid is free and not `seen`: the next instance may be
      // given it. Found gone again at once, it is not said again, nor is
      // its wait begun anew.
      if (gone?.pid !== p.pid) {
        const e = { pid: p.pid, takenOver: false };
        if (ended.length + 1 >= MAX_FOLLOWED) {
          followedEnough(p, e, { ended, steps });
        }
        passOver(p, e, { ended, steps });
        gone = { pid: p.pid, deadline: Date.now() + steps.seconds * 1000 };
      } else if (Date.now() >= gone.deadline) {
        return noneAfter(ended, { last, steps, failures });
      } else await new Promise((r) => setTimeout(r, POLL_MS));
      continue;
    }
    gone = undefined;
    seen.add(p.pid);
    kept.use(held);
    let result: R;
    try {
      result = await steps.takeOver(p, held);
    } catch (e) {
      // One ending (ExitProcess detaches every DLL first, serialised with
      // CreateRemoteThread) can fail its takeover before it has ended:
      // watched as one taken over is, before the failure is said.
      const code = held.exitCode() ??
        await held.endsWithin(steps.watchMs ?? HANDOFF_WATCH_MS);
      // Still running: a failure to say. A crash: its own error says so.
      if (code === undefined || steps.crashOf(code)) throw e;
      failures.set(p.pid, e);
      const gone = { pid: p.pid, exitCode: code, takenOver: false };
      if (ended.length + 1 >= MAX_FOLLOWED) {
        followedEnough(p, gone, { ended, steps });
      }
      passOver(p, gone, { ended, steps });
      continue;
    }
    const code = await held.endsWithin(steps.watchMs ?? HANDOFF_WATCH_MS);
    if (code === undefined) return { instance: p, result, ended };
    const takenOver = result.state !== "ended";
    const crash = steps.crashOf(code);
    if (crash && !takenOver) {
      throw steps.fail(
        `${p.name} (pid ${p.pid}) crashed (${crash}) before its takeover could be seen: its own output or the system's event log may say why`,
        "failed",
        code,
      );
    }
    if (crash) {
      return {
        instance: p,
        result,
        exitCode: code,
        warning:
          `${p.name} (pid ${p.pid}) crashed (${crash}) right after its takeover: its own output or the system's event log may say why`,
        ended,
      };
    }
    last = takenOver
      ? { instance: p, result, exitCode: code, ended: [...ended] }
      : undefined;
    const e = { pid: p.pid, exitCode: code, takenOver };
    if (ended.length + 1 >= MAX_FOLLOWED) {
      const warning = followedEnough(p, e, { ended, steps });
      return { instance: p, result, exitCode: code, warning, ended };
    }
    passOver(p, e, { ended, steps });
  }
}

/**
 * The end of the wait at the {@linkcode MAX_FOLLOWED}th instance to end,
 * `p` (`e`): its warning when it was taken over, else the error thrown.
 */
function followedEnough(
  p: Instance,
  e: EndedInstance,
  options: {
    ended: EndedInstance[];
    steps: Pick<
      LastingSteps<TakeoverResult, never>,
      "fail" | "followNoFurther"
    >;
  },
): string {
  const { ended, steps } = options;
  const text = `${
    endedText(p.name, e)
  }, as had the ${ended.length} before it: heapshift follows no further (it may be a program that restarts itself); ${steps.followNoFurther}`;
  if (!e.takenOver) throw steps.fail(text, "failed");
  return text;
}

/** How an instance ended, as said: `game.exe (pid 1) ended (exit 0) …`. */
function endedText(name: string, e: EndedInstance): string {
  const exit = e.exitCode === undefined ? "" : ` (exit ${e.exitCode})`;
  return `${name} (pid ${e.pid}) ended${exit} ${
    e.takenOver ? "right after its takeover" : "before its takeover"
  }`;
}

/**
 * Adds `gone`, which instance `p` ended as, to `options.ended`, and says
 * so, and that the wait goes on for another.
 */
function passOver(
  p: Instance,
  gone: EndedInstance,
  options: {
    ended: EndedInstance[];
    steps: { seconds: number; notice: (text: string) => void };
  },
): void {
  options.ended.push(gone);
  options.steps.notice(
    `${
      endedText(p.name, gone)
    }: a game that Steam must start, started otherwise, has Steam start it again and exits (some launchers do the same); waiting up to ${options.steps.seconds} s for another ${p.name} to start…`,
  );
}

/**
 * The first instance to start that is not in `seen`, within
 * `steps.seconds` (or until `steps.until`); undefined when none did.
 */
async function started(
  seen: ReadonlySet<number>,
  steps: { seconds: number; find: FindInstance; until?: number },
): Promise<Instance | undefined> {
  const deadline = steps.until ?? Date.now() + steps.seconds * 1000;
  for (;;) {
    const p = steps.find(seen);
    if (p) return p;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) =>
      setTimeout(r, Math.min(POLL_MS, Math.max(deadline - Date.now(), 0)))
    );
  }
}

/**
 * The end of a wait in which no (other) instance started: an error when
 * none did at all, or the last to end was not taken over; else that one,
 * with a warning that it ended.
 */
function noneAfter<R>(
  ended: EndedInstance[],
  options: {
    last: Lasting<R> | undefined;
    steps: Pick<
      LastingSteps<TakeoverResult, never>,
      | "name"
      | "seconds"
      | "noneStarted"
      | "fail"
      | "waitLonger"
      | "failureText"
    >;
    /** Why the takeovers of those passed over failed, by pid. */
    failures: ReadonlyMap<number, unknown>;
  },
): Lasting<R> {
  const { last, steps } = options;
  const gone = ended.at(-1);
  if (gone === undefined) throw steps.fail(steps.noneStarted, "timeout");
  const none =
    `no other ${steps.name} started within ${steps.seconds} s${steps.waitLonger}`;
  if (last === undefined || last.instance.pid !== gone.pid) {
    throw steps.fail(
      `${
        endedText(steps.name, gone)
      }, and ${none}: no ${steps.name} taken over runs${
        failedText(options.failures.get(gone.pid), steps)
      }`,
      "ended",
      gone.exitCode,
    );
  }
  return { ...last, warning: `${endedText(steps.name, gone)}, and ${none}` };
}

/**
 * A takeover's failure, said after the end of the instance it was of, as
 * `steps.failureText` words it: a refusal that had nothing to do with its
 * end (a DLL of the other bitness) is not to be hidden behind it.
 */
function failedText(
  failure: unknown,
  steps: Pick<LastingSteps<TakeoverResult, never>, "failureText">,
): string {
  const text = failure === undefined ? undefined : steps.failureText?.(failure);
  return text === undefined ? "" : ` (its takeover had failed: ${text})`;
}
