// The takeover through the CLI, as a user runs it, for a 64-bit and a
// 32-bit program alike: `heapshift inject NAME` with no --dll (the CLI picks
// heapshift.dll or heapshift32.dll by the target's architecture) into a
// program that is running with thousands of live blocks, and `heapshift
// launch` of a program with the hook DLL loaded before its own code. The
// programs then pass the same conformance and stress checks as under the
// DLL tests, with Wine's heap reports on (any report fails the test).
import { assert, assertEquals } from "./assert.ts";
import {
  type Arch,
  fixture,
  hookDll,
  startTarget,
  type Target,
  testArches,
  uniqueCopy,
} from "./harness.ts";
import {
  assertFinished,
  assertHooked,
  assertMigrated,
  assertUcrt,
  num,
  type Run,
  values,
} from "./conformance_expect.ts";
import { assertStressed, STRESS_ARGS, stressValues } from "./stress_expect.ts";
import { runCli } from "../../cli/_test_utils.ts";

/** The target's next line of output. */
async function next(target: Target): Promise<string> {
  const r = await target.lines.next();
  assert(!r.done, "the target ended early");
  return r.value;
}

/** Sends a line to the target's standard input. */
async function send(target: Target, line: string): Promise<void> {
  const w = target.child.stdin.getWriter();
  await w.write(new TextEncoder().encode(`${line}\n`));
  w.releaseLock();
}

/**
 * `heapshift inject NAME --json` with no --dll; asserts it chose the hook
 * DLL of `arch` and reached the target.
 */
async function injectByName(arch: Arch, name: string, pid: number) {
  const r = await runCli(["inject", name, "--json"]);
  assertEquals(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assertEquals(out.pid, pid);
  assertEquals(out.dll, hookDll(arch));
  assertEquals(
    out.module.name.toLowerCase(),
    arch === "x86" ? "heapshift32.dll" : "heapshift.dll",
  );
}

testArches(
  "cli: a running program injected by name with no --dll gives UCRT's results",
  async (arch) => {
    await using copy = await uniqueCopy("dll_conformance.exe", arch);
    await using target = await startTarget(copy.path, {
      args: ["inject"],
      env: { HS_WAIT_EXIT: "1" },
    });
    assertEquals(await next(target), "inject-now");
    await injectByName(arch, copy.exe, target.pid);
    await send(target, "go");
    const lines: string[] = [];
    for (let l = await next(target); l !== "done"; l = await next(target)) {
      lines.push(l);
    }
    // Read from outside while the program waits: the same counts.
    const s = await runCli(["stats", copy.exe, "--json"]);
    assertEquals(s.code, 0, s.stderr);
    const stats = JSON.parse(s.stdout);
    await send(target, "exit");
    const code = (await target.child.status).code;
    const run: Run = {
      mode: "cli inject",
      arch,
      lines: [...lines, "done"],
      code,
      v: values(lines),
    };
    assertFinished(run);
    assertUcrt(run, "hooked");
    assertHooked(run, "old");
    assertMigrated(run);
    assertEquals(stats.state, "live");
    assertEquals(stats.counters.expandRejects, 2);
    assert(
      stats.counters.migrations >= num(run, "old.reallocs"),
      JSON.stringify(stats.counters),
    );
  },
);

testArches(
  "cli: a running program injected by name with no --dll passes the stress checks",
  async (arch) => {
    await using copy = await uniqueCopy("dll_stress.exe", arch);
    await using target = await startTarget(copy.path, {
      args: ["inject", "-", ...STRESS_ARGS],
    });
    assertEquals(await next(target), "inject-now");
    await injectByName(arch, copy.exe, target.pid);
    await send(target, "go");
    const lines: string[] = [];
    for (let l = await next(target);; l = await next(target)) {
      lines.push(l);
      if (l === "done") break;
    }
    const code = (await target.child.status).code;
    assertStressed(stressValues(lines, code));
  },
);

testArches(
  "cli: launch with no --dll starts a program with the hook DLL first: UCRT's results",
  async (arch) => {
    const r = await runCli([
      "launch",
      fixture("dll_conformance.exe", arch),
      "--wait-exit",
      "--",
      "launched",
    ]);
    const lines = r.stdout.split(/\r?\n/).filter(Boolean).slice(1); // ready
    const run: Run = {
      mode: "cli launch",
      arch,
      lines,
      code: r.code,
      v: values(lines),
    };
    assertFinished(run);
    assertUcrt(run, "hooked");
    assertHooked(run, "new");
  },
);
