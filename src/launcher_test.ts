import assert from "node:assert/strict";
import { launch, type LaunchOptions } from "./launcher.ts";
import { HeapshiftError } from "./heapshift_error.ts";

// Options from JavaScript callers (no type checks there) are refused as
// bad-argument errors naming the option, before anything is read or
// started: the program path need not even exist.
Deno.test("launch refuses options of the wrong type with a bad-argument error naming them", async () => {
  const cases: [unknown, RegExp][] = [
    [{ args: "--level 2" }, /args must be an array of strings/],
    [{ args: ["a", 2] }, /argument 2 is a number, not a string/],
    [{ env: { TAG: 42 } }, /the value of TAG is a number, not a string/],
    [{ env: ["A=B"] }, /env must be an object of strings/],
    [{ cwd: 5 }, /cwd must be a string/],
    [{ dlls: "x.dll" }, /dlls must be an array of DLL paths/],
    [{ dlls: [null] }, /dll 1 is null, not a path/],
    [{ stdio: "pipe" }, /stdio must be "inherit" or "none", not "pipe"/],
    [{ signal: "abort" }, /signal must be an AbortSignal/],
    [
      { errorDialogs: "no" },
      /errorDialogs must be true or false, not a string/,
    ],
  ];
  for (const [options, text] of cases) {
    await assert.rejects(
      launch("no-such-program.exe", options as LaunchOptions),
      (e: unknown) => {
        assert.ok(e instanceof HeapshiftError, String(e));
        assert.equal(e.kind, "bad-argument");
        assert.match(e.message, /^Cannot launch no-such-program\.exe: /);
        assert.match(e.message, text);
        return true;
      },
    );
  }
});

Deno.test("launch refuses a program that is not a path, and options that are not an object", async () => {
  for (
    const [exe, options, text] of [
      [
        42,
        {},
        /^Cannot launch: the program must be the path of an executable, not a number$/,
      ],
      ["", {}, /not an empty string$/],
      [
        "x.exe",
        null,
        /^Cannot launch x\.exe: the options must be an object, not null$/,
      ],
    ] as const
  ) {
    await assert.rejects(
      launch(exe as string, options as LaunchOptions),
      (e: unknown) =>
        e instanceof HeapshiftError && e.kind === "bad-argument" &&
        text.test(e.message),
    );
  }
});

Deno.test("launch refuses options that are an array, as inject, eject and imports do", async () => {
  await assert.rejects(
    launch("x.exe", [] as LaunchOptions),
    (e: unknown) =>
      e instanceof HeapshiftError && e.kind === "bad-argument" &&
      /^Cannot launch x\.exe: the options must be an object, not an array$/
        .test(e.message),
  );
});
