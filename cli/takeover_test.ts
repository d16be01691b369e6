import assert from "node:assert/strict";
import { HeapshiftError } from "../mod.ts";
import { awaitTakeover } from "./takeover.ts";
import { CliError } from "./output.ts";
import { sampleStats } from "./_test_utils.ts";
import type { Stats } from "./api.ts";

const target = { pid: 7, name: "game.exe", dll: "C:\\hs\\heapshift.dll" };

/** A stats() that gives `answers` in turn (the last one from then on). */
function replay(answers: (Partial<Stats> | Error)[]): () => Stats {
  let i = 0;
  return () => {
    const a = answers[Math.min(i++, answers.length - 1)];
    if (a instanceof Error) throw a;
    return sampleStats(a);
  };
}

Deno.test("awaitTakeover: live after loading", async () => {
  const stats = replay([{ state: "loading" }, { state: "loading" }, {
    state: "live",
  }]);
  assert.deepEqual(
    await awaitTakeover(target, { timeoutMs: 5_000, stats }),
    { state: "live" },
  );
});

Deno.test("awaitTakeover: a refusal or HEAPSHIFT_DISABLE is an error that says why", async () => {
  const refusals = [
    [
      "foreign-hook",
      "heapshift.dll is loaded in game.exe (pid 7) but did not take over (foreign-hook: another tool hooks the CRT's allocator already)",
    ],
    [
      "page-map",
      "heapshift.dll is loaded in game.exe (pid 7) but did not take over (page-map: mimalloc's page map could not be set up for heapshift (the system's commit limit, or MIMALLOC_MAX_VABITS))",
    ],
    [
      "pin",
      "heapshift.dll is loaded in game.exe (pid 7) but did not take over (pin: heapshift.dll could not pin itself in memory, which it needs before it changes any code). The program runs on as before",
    ],
  ] as const;
  for (const [reason, text] of refusals) {
    await assert.rejects(
      awaitTakeover(target, {
        timeoutMs: 5_000,
        stats: replay([{ state: "failed", reason }]),
      }),
      (e: Error) => e instanceof CliError && e.message.startsWith(text),
      reason,
    );
  }
  await assert.rejects(
    awaitTakeover(target, {
      timeoutMs: 5_000,
      stats: replay([{ state: "disabled" }]),
    }),
    /but disabled: HEAPSHIFT_DISABLE is set/,
  );
});

Deno.test("awaitTakeover: a program that ended meanwhile is said at once; an error that waiting cannot fix is not waited on", async () => {
  const started = Date.now();
  const gone = new HeapshiftError("not-found", "process 7 has ended");
  assert.deepEqual(
    await awaitTakeover(target, {
      timeoutMs: 60_000,
      stats: replay([{ state: "loading" }, gone]),
    }),
    { state: "ended" },
  );
  const denied = new HeapshiftError("access-denied", "access denied");
  const r = await awaitTakeover(target, {
    timeoutMs: 60_000,
    stats: replay([denied]),
  });
  assert.match(r.warning ?? "", /its state cannot be read: access denied/);
  assert(Date.now() - started < 5_000, "waited for the deadline");
});

Deno.test("awaitTakeover: threads not listed for want of memory say so, and that trying again waits for free memory", async () => {
  // CreateToolhelp32Snapshot in a nearly full address space (a 32-bit game
  // late in its life): ERROR_NOT_ENOUGH_MEMORY, which an immediate retry
  // meets again.
  for (const error of [8, 14]) {
    await assert.rejects(
      awaitTakeover(target, {
        timeoutMs: 5_000,
        stats: replay([{ state: "failed", reason: "thread-snapshot", error }]),
      }),
      (e: Error) =>
        e.message.includes(
          `(thread-snapshot: its threads could not be listed: the program is out of memory (error ${error}))`,
        ) &&
        e.message.includes(
          "(this may pass once the program has freed memory: `inject 7` tries again;",
        ),
    );
  }
  // Any other error: a moment's failure.
  await assert.rejects(
    awaitTakeover(target, {
      timeoutMs: 5_000,
      stats: replay([
        { state: "failed", reason: "thread-snapshot", error: 5 },
      ]),
    }),
    (e: Error) =>
      e.message.includes(
        "(thread-snapshot: its threads could not be listed)",
      ) && e.message.includes("(this may pass: `inject 7` tries again;"),
  );
});

Deno.test("awaitTakeover: a reason that may pass says inject tries again, naming a --dll", async () => {
  const failed = [{
    state: "failed" as const,
    reason: "thread-in-site" as const,
  }];
  await assert.rejects(
    awaitTakeover(target, { timeoutMs: 5_000, stats: replay(failed) }),
    (e: Error) =>
      e instanceof CliError &&
      e.message.includes(
        "(thread-in-site: a thread stayed inside a function to be patched)",
      ) &&
      e.message.includes("(this may pass: `inject 7` tries again;"),
  );
  const spaced = "C:\\my tools\\heapshift.dll";
  await assert.rejects(
    awaitTakeover({ ...target, dll: spaced, explicitDll: true }, {
      timeoutMs: 5_000,
      stats: replay(failed),
    }),
    (e: Error) =>
      e.message.includes(`\`inject 7 --dll "${spaced}"\` tries again`),
  );
  // One that does not pass: restart.
  await assert.rejects(
    awaitTakeover(target, {
      timeoutMs: 5_000,
      stats: replay([{ state: "failed", reason: "foreign-hook" }]),
    }),
    /\(restart it to try again; `stats 7` shows more\)/,
  );
});

Deno.test("awaitTakeover: a program that forbids changes to its code is not told to restart, but when heapshift can get in first", async () => {
  // Arbitrary Code Guard (error 1655) stays on across restarts; a program
  // that turns it on itself once running is taken over when heapshift
  // loads before its code (launch, patch).
  await assert.rejects(
    awaitTakeover(target, {
      timeoutMs: 5_000,
      stats: replay([{ state: "failed", reason: "protect", error: 1655 }]),
    }),
    (e: Error) => {
      assert.ok(e instanceof CliError);
      assert.ok(!e.message.includes("restart it to try again"), e.message);
      for (
        const part of [
          "(protect: the program forbids changes to its code (Arbitrary Code Guard, error 1655))",
          "restarting it does not lift that",
          "`launch` it with heapshift or `patch` its imports",
          'Exploit protection\'s "Arbitrary code guard"',
          "`stats 7` shows more",
        ]
      ) {
        assert.ok(e.message.includes(part), `${part} missing: ${e.message}`);
      }
      return true;
    },
  );
});

Deno.test("awaitTakeover: code that could not be made writable for another reason than Arbitrary Code Guard is not blamed on it", async () => {
  // VirtualProtect of ucrtbase's code to writable also fails when the
  // system is out of commit (a private copy of the page is charged):
  // 1455, ERROR_COMMITMENT_LIMIT. No policy there to lift or launch around.
  await assert.rejects(
    awaitTakeover(target, {
      timeoutMs: 5_000,
      stats: replay([{ state: "failed", reason: "protect", error: 1455 }]),
    }),
    (e: Error) => {
      assert.ok(e instanceof CliError);
      assert.ok(!/Arbitrary Code Guard/i.test(e.message), e.message);
      assert.ok(!e.message.includes("does not lift"), e.message);
      assert.ok(
        e.message.includes(
          "(protect: ucrtbase.dll's code could not be made writable (error 1455))",
        ),
        e.message,
      );
      assert.ok(e.message.includes("restart it to try again"), e.message);
      return true;
    },
  );
});

Deno.test("awaitTakeover: a caller about to end the program (the demo) gives its own advice, not inject's", async () => {
  const again = "the demo has stopped the sample; run the demo again";
  const failed = replay([{ state: "failed", reason: "thread-in-site" }]);
  await assert.rejects(
    () => awaitTakeover(target, { timeoutMs: 5_000, stats: failed, again }),
    (e: Error) => {
      assert.ok(e instanceof CliError);
      assert.equal(
        e.message,
        `heapshift.dll is loaded in game.exe (pid 7) but did not take over (thread-in-site: a thread stayed inside a function to be patched): ${again}`,
      );
      return true;
    },
  );
  const disabled = replay([{ state: "disabled" }]);
  await assert.rejects(
    () => awaitTakeover(target, { timeoutMs: 5_000, stats: disabled, again }),
    (e: Error) => {
      assert.equal(
        e.message,
        `heapshift.dll is loaded in game.exe (pid 7) but disabled: HEAPSHIFT_DISABLE is set in the program's environment, so it runs on its CRT heap (${again} without that variable)`,
      );
      return true;
    },
  );
});
