// The Windows suite's own harness (harness.ts).
import { assert, assertEquals } from "./assert.ts";
import {
  ARCHES,
  fixture,
  heapWatch,
  outputText,
  runFixture,
  test,
  testArches,
  UNDER_WINE,
} from "./harness.ts";

/** The error `p` rejects with, or null when it resolves. */
async function rejection(p: Promise<unknown>): Promise<Error | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return e as Error;
  }
}

test("harness: a fixture that outlives its timeout is killed and its test fails with its output", async () => {
  const started = Date.now();
  // sleeper.exe idles until killed
  const error = await rejection(
    runFixture(fixture("sleeper.exe"), [], { timeoutMs: 3000 }),
  );
  assert(error !== null, "runFixture returned");
  assert(
    /^sleeper\.exe timed out after 3 s \(killed\); its output:\nready \d+/
      .test(error.message),
    error.message,
  );
  assertEquals(/still running/.test(error.message), false, error.message);
  if (Deno.env.get("WINEPREFIX") !== undefined) {
    // Under Wine: where each of its Linux threads waited (tests/win/stall_dump.ts)
    assert(
      /\nits threads when it timed out \(Linux \/proc\):\nprocess \d+:\n {2}task \d+ sleeper\.exe state=\S.* syscall=/
        .test(error.message),
      error.message,
    );
    assert(
      /code mappings:\n(?:.*\n)*.*ntdll\.so/.test(error.message),
      error.message,
    );
  }
  assert(Date.now() - started < 20_000, "the kill took too long");
});

testArches(
  "harness: a fixture's stdout and stderr reach the pipes Deno gave it",
  async (arch) => {
    // Deno hands a child 8-byte handles in the CRT's inherited-handle block;
    // a 32-bit CRT reads 4-byte ones (tests/fixtures/support/std_fds.c)
    const out = await new Deno.Command(fixture("harness_stdio.exe", arch), {
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(
      {
        code: out.code,
        stdout: outputText(out.stdout),
        stderr: outputText(out.stderr),
      },
      {
        code: 0,
        stdout: "fd0=std\nfd1=std\nfd2=std\n",
        stderr: "to-stderr\n",
      },
    );
  },
);

// Under Wine only: a watch reads Wine's lines, and on Windows there is
// nothing to read (heapWatch's check passes at once: the process died, and
// the test that ran it sees its exit code), so these would fail there.
if (UNDER_WINE) {
  test({
    name:
      "harness: a program that dies of an exception nothing handled fails the test, unless the test says it means it",
    crashes: "sleeper.exe crash: what the watches inside must see",
    async fn() {
      const crash = () =>
        new Deno.Command(fixture("sleeper.exe"), {
          args: ["crash"],
          stdout: "null",
          stderr: "null",
        }).output();
      const unexpected = heapWatch();
      const { code } = await crash();
      assert(code !== 0, "sleeper crash exited 0");
      const error = await rejection(unexpected.check());
      assert(error !== null, "a crash passed a watch that did not expect one");
      assert(
        /died of an exception nothing handled[^\n]*\nwine: Unhandled page fault/
          .test(error.message),
        error.message,
      );
      const meant = heapWatch({ crashes: "this test" });
      await crash();
      await meant.check();
    },
  });

  // A fail-fast (what Microsoft's CRT's abort() and invalid-parameter default
  // end in) skips the unhandled-exception filter, so Wine prints no
  // "wine: Unhandled" line for it: it must fail the test all the same.
  for (const arch of ARCHES) {
    test({
      name:
        `harness: a program that ends in a fail-fast (0xC0000409) fails the test too [${arch}]`,
      crashes: "sleeper fastfail: what the watch inside must see",
      async fn() {
        const unexpected = heapWatch();
        const { code } = await new Deno.Command(fixture("sleeper.exe", arch), {
          args: ["fastfail"],
          stdout: "null",
          stderr: "null",
        }).output();
        assertEquals(code >>> 0, 0xC0000409);
        const error = await rejection(unexpected.check());
        assert(error !== null, "a fail-fast passed a watch");
        assert(
          /died of an exception nothing handled[^\n]*\n.*Unhandled exception code c0000409/
            .test(error.message),
          error.message,
        );
      },
    });
  }

  // How heapshift.dll ends a program it cannot go on in (dll/tls.c): Wine's
  // RaiseFailFastException ends the process quietly.
  for (const arch of ARCHES) {
    test({
      name:
        `harness: a program that calls RaiseFailFastException fails the test too [${arch}]`,
      crashes: "sleeper failfast-api: what the watch inside must see",
      async fn() {
        const unexpected = heapWatch();
        const { code } = await new Deno.Command(
          fixture("sleeper.exe", arch),
          { args: ["failfast-api"], stdout: "null", stderr: "null" },
        ).output();
        assertEquals(code >>> 0, 0xC0000602); // STATUS_FAIL_FAST_EXCEPTION
        const error = await rejection(unexpected.check());
        assert(error !== null, "RaiseFailFastException passed a watch");
        assert(
          /died of an exception nothing handled[^\n]*\n.*RaiseFailFastException/
            .test(error.message),
          error.message,
        );
      },
    });
  }
}
