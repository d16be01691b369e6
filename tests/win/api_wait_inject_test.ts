// waitAndInject: a game that Steam must start, started otherwise, has
// Steam start it again and exits (SteamAPI_RestartAppIfNecessary); a
// script that waited for it and injected must end in the instance that
// runs on. cli_handoff.exe is such a game (`restart STEAM`), and, under
// the name steam.exe, its Steam.
import {
  findProcesses,
  HeapshiftError,
  modules,
  ProcessEndedError,
  waitAndInject,
} from "../../mod.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { fixture, hookDll, test } from "./harness.ts";
import { startOutsideSteam } from "./steam_restart.ts";

/** A folder with a uniquely named copy of the game. */
async function gameDir(): Promise<
  { game: string; name: string } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "heapshift wait " });
  const name = `game_${crypto.randomUUID().slice(0, 8)}.exe`;
  await Deno.copyFile(fixture("cli_handoff.exe"), `${dir}\\${name}`);
  return {
    game: `${dir}\\${name}`,
    name,
    async [Symbol.asyncDispose]() {
      for (const p of findProcesses(name)) Deno.kill(p.pid, "SIGKILL");
      for (let i = 0; i < 20; i++) {
        try {
          return await Deno.remove(dir, { recursive: true });
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
  };
}

test("api: waitAndInject of a game that Steam starts again once it is taken over ends in the instance Steam started", async () => {
  await using d = await gameDir();
  const waited = waitAndInject(d.name, hookDll(), { timeout: 60_000 });
  const first = await startOutsideSteam(d.game, { afterTakeover: true });
  assertEquals(first.code, 0, `taken over, then restarted: ${first.stderr}`);
  using game = await waited;
  const running = findProcesses(d.name);
  assertEquals(running.map((p) => p.pid), [game.process.pid]);
  assert(game.process.pid !== first.pid);
  assertEquals(game.ended, [{ pid: first.pid, exitCode: 0, takenOver: true }]);
  assertEquals([game.exitCode, game.warning], [undefined, undefined]);
  assertEquals(game.process.stats().state, "live");
  assertEquals(game.process.exitCode(), undefined);
});

test("api: waitAndInject of a game that Steam starts again at once ends in the instance Steam started", async () => {
  await using d = await gameDir();
  const waited = waitAndInject(d.name, hookDll());
  const first = await startOutsideSteam(d.game);
  assertEquals(first.code, 0, first.stderr);
  using game = await waited;
  assertEquals(findProcesses(d.name).map((p) => p.pid), [game.process.pid]);
  assertEquals(game.process.stats().state, "live");
  // The first may have ended before it was seen, or before its injection.
  for (const e of game.ended) assertEquals([e.pid, e.exitCode], [first.pid, 0]);
});

test("api: waitAndInject of a program that runs on returns it, held, with nothing ended; closed, it lets go", async () => {
  await using d = await gameDir();
  const child = new Deno.Command(d.game, {
    args: ["from-steam"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const game = await waitAndInject(d.name, hookDll(), { watch: 500 });
  assertEquals([game.process.pid, game.ended], [child.pid, []]);
  assertEquals(game.process.stats().state, "live");
  game.close();
  await assertRejects(
    () => game.process.wait(),
    HeapshiftError,
    "closed",
  );
  child.kill("SIGKILL");
  await child.status;
});

test("api: waitAndInject refuses several instances running when it is called, naming their pids, and injects into none", async () => {
  await using d = await gameDir();
  const start = () =>
    new Deno.Command(d.game, {
      args: ["from-steam"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const children = [start(), start()];
  try {
    const e = await waitAndInject(d.name, hookDll(), { timeout: 5_000 }).then(
      (w) => {
        w.close();
        return `took pid ${w.process.pid}`;
      },
      (e) => e,
    );
    assert(
      e instanceof HeapshiftError && e.kind === "ambiguous",
      `ambiguous: ${e}`,
    );
    for (const c of children) assert(e.message.includes(`${c.pid}`), e.message);
    assert(
      e.message.startsWith(
        `Cannot wait for ${d.name} and inject into it: several processes named ${d.name} are running (pids `,
      ),
      e.message,
    );
    for (const c of children) {
      const mods = modules(c.pid);
      assert(
        !mods.some((m) => m.name.toLowerCase() === "heapshift.dll"),
        `nothing injected into ${c.pid}`,
      );
    }
  } finally {
    for (const c of children) {
      c.kill("SIGKILL");
      await c.status;
    }
  }
});

test("api: waitAndInject's ended error has the last instance's end as its cause, a ProcessEndedError with its exit code", async () => {
  // A 32-bit program refuses the x64 DLL; it ends within the watch, and no
  // other starts: not taken over, it ended.
  const dir = await Deno.makeTempDir({ prefix: "heapshift wait " });
  const name = `ends_${crypto.randomUUID().slice(0, 8)}.exe`;
  await Deno.copyFile(fixture("sleeper.exe", "x86"), `${dir}\\${name}`);
  const child = new Deno.Command(`${dir}\\${name}`, {
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const waited = waitAndInject(name, hookDll(), {
      timeout: 1_000,
      watch: 10_000,
    }).then(() => undefined, (e) => e);
    await new Promise((r) => setTimeout(r, 2_000));
    child.kill("SIGKILL");
    const { code } = await child.status;
    const e = await waited;
    assert(e instanceof HeapshiftError && e.kind === "ended", `ended: ${e}`);
    assert(
      e.message.startsWith(
        `${name} (pid ${child.pid}) ended (exit ${code}) before its takeover`,
      ),
      e.message,
    );
    // The refusal is said, not only the end (it hid the DLL to give).
    assert(
      / taken over runs \(its takeover had failed: Cannot inject heapshift\.dll into process \d+: .*heapshift32\.dll/
        .test(e.message),
      e.message,
    );
    assert(e.cause instanceof ProcessEndedError, `cause: ${e.cause}`);
    assertEquals([e.cause.exitCode, e.cause.crash], [code, undefined]);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.stdin.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("api: waitAndInject of a program that cannot be opened says so at once, not that it ended, and waits no longer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift wait " });
  const name = `guarded_${crypto.randomUUID().slice(0, 8)}.exe`;
  await Deno.copyFile(fixture("api_guarded.exe"), `${dir}\\${name}`);
  const child = new Deno.Command(`${dir}\\${name}`, {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const ready = new TextDecoder().decode(value);
    assert(ready.startsWith("ready"), `the program guarded itself: ${ready}`);
    const t0 = Date.now();
    // (Without a limit: it waited for ever, taking the program for gone.)
    const e = await waitAndInject(name, hookDll(), {
      timeout: Infinity,
      signal: AbortSignal.timeout(10_000),
    })
      .then((w) => {
        w.close();
        return `took pid ${w.process.pid}`;
      }, (e) => e);
    assert(
      e instanceof HeapshiftError && e.kind === "access-denied",
      `access-denied: ${e}`,
    );
    assert(
      e.message.startsWith(
        `Cannot inject heapshift.dll into process ${child.pid}: access denied`,
      ),
      e.message,
    );
    assert(Date.now() - t0 < 5_000, `at once, not after a wait`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

test("api: waitAndInject refuses before any wait a path, a DLL that is not one, bad options; it times out, and is aborted, as asked", async () => {
  const name = `none_${crypto.randomUUID().slice(0, 8)}.exe`;
  const kind = async (p: Promise<unknown>, k: string, text: RegExp) => {
    const e = await p.then(() => undefined, (e) => e);
    assert(e instanceof HeapshiftError && e.kind === k, `${k}: ${e}`);
    assert(text.test(e.message), e.message);
  };
  const t0 = Date.now();
  await kind(
    waitAndInject(`C:\\games\\${name}`, hookDll()),
    "bad-argument",
    /by its executable's file name|processes are found by/,
  );
  await kind(
    waitAndInject(name, fixture("cli_handoff.exe")),
    "bad-dll",
    /cli_handoff\.exe/,
  );
  await kind(
    waitAndInject(name, hookDll(), { watch: -1 }),
    "bad-argument",
    /^Cannot wait for none_\w+\.exe and inject into it: the watch must be a positive number of milliseconds, not -1$/,
  );
  assert(Date.now() - t0 < 5_000, "refused before a wait");
  await kind(
    waitAndInject(name, hookDll(), { timeout: 300 }),
    "timeout",
    new RegExp(
      `^No process named ${name.replace(".", "\\.")} started within 0\\.3 s`,
    ),
  );
  const why = new Error("enough");
  const aborted = await waitAndInject(name, hookDll(), {
    signal: AbortSignal.abort(why),
  }).then(() => undefined, (e) => e);
  assert(aborted === why, `the signal's reason: ${aborted}`);
});
