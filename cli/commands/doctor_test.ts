// doctor on Linux (file checks only): a 32-bit program is supported, takes
// heapshift32.dll, and a DLL of the other bitness is named as such.
import assert from "node:assert/strict";
import { checkExe, doctor, nativeCheck, wineCheck } from "./doctor.ts";
import { dllFormat } from "../dll.ts";
import { buildPe, type SyntheticOptions } from "../../pe/_test_pe.ts";
import { withVars } from "../../pe/_test_dir.ts";

async function writePe(
  path: string,
  options: SyntheticOptions,
): Promise<string> {
  await Deno.writeFile(path, buildPe(options));
  return path;
}

Deno.test("doctor: x86 programs take heapshift32.dll; a mismatched --dll names both", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-doctor-" });
  try {
    const exe32 = await writePe(`${dir}/game32.exe`, { format: "PE32" });
    const exe64 = await writePe(`${dir}/game64.exe`, { format: "PE32+" });
    const dll64 = await writePe(`${dir}/h64.dll`, { dll: true });
    const dll32 = await writePe(`${dir}/h32.dll`, {
      dll: true,
      format: "PE32",
    });

    const [program32, crt] = await checkExe(exe32);
    assert.deepEqual(program32, {
      check: "program",
      ok: true,
      detail: `${exe32}: 32-bit (x86), takes heapshift32.dll`,
    });
    assert.equal(crt.ok, true);
    assert.equal(
      (await checkExe(exe64))[0].detail,
      `${exe64}: 64-bit (x64), takes heapshift.dll`,
    );

    assert.equal(dllFormat(dll32, "x86"), undefined);
    assert.equal(dllFormat(dll64), undefined);
    assert.equal(
      dllFormat(dll64, "x86"),
      `${dll64} is a 64-bit (x64) DLL but the program is 32-bit (x86): it needs heapshift32.dll`,
    );
    assert.equal(
      dllFormat(dll32, "x64"),
      `${dll32} is a 32-bit (x86) DLL but the program is 64-bit (x64): it needs heapshift.dll`,
    );

    const by = async (exe: string | undefined, dll?: string) => {
      const checks = await doctor(exe, dll);
      return (name: string) => checks.find((c) => c.check === name)!;
    };
    const mismatch = await by(exe32, dll64);
    assert.equal(mismatch("DLL format").ok, false);
    assert.match(mismatch("DLL format").detail, /needs heapshift32\.dll/);
    const matched = await by(exe32, dll32);
    assert.equal(matched("DLL format").ok, true);
    // Without a program, a 32-bit --dll is checked as one.
    const alone = await by(undefined, dll32);
    assert.equal(alone("DLL format").ok, true, alone("DLL format").detail);
    // Without --dll, a 32-bit program's default is the checkout's x86 DLL.
    const byDefault = await by(exe32);
    assert.match(byDefault("hook DLL").detail, /[\\/]heapshift32\.dll\b/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor names a path it cannot read once, and a broken file's path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-doctor-" });
  try {
    const missing = `${dir}/none.exe`;
    assert.deepEqual(await checkExe(missing), [{
      check: "program",
      ok: false,
      detail: `Cannot read ${missing}: no such file`,
    }]);
    assert.equal(
      dllFormat(`${dir}/none.dll`),
      `Cannot read ${dir}/none.dll: no such file`,
    );
    const text = `${dir}/text.exe`;
    await Deno.writeTextFile(
      text,
      "not a program, but long enough to hold a DOS header…".repeat(2),
    );
    const [bad] = await checkExe(text);
    assert.equal(bad.ok, false);
    assert.match(
      bad.detail,
      new RegExp(`^${RegExp.escape(text)}: IMAGE_DOS_HEADER`),
    );
    assert.match(
      dllFormat(text)!,
      new RegExp(`^${RegExp.escape(text)}: IMAGE_DOS_HEADER`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor --dll of a path with no DLL says so, not to build one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-doctor-" });
  try {
    const hookDll = async (dll: string) =>
      (await doctor(undefined, dll)).find((c) => c.check === "hook DLL")!;
    const none = `${dir}/nope.dll`;
    assert.deepEqual(await hookDll(none), {
      check: "hook DLL",
      ok: false,
      detail: `there is no DLL at ${none}: check the --dll path`,
    });
    assert.equal(
      (await hookDll(dir)).detail,
      `Cannot read ${dir}: it is a directory, not a regular file (--dll takes the DLL file)`,
    );
    if (Deno.build.os !== "windows") {
      const fifo = `${dir}/fifo.dll`;
      await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.equal(
        (await hookDll(fifo)).detail,
        `Cannot read ${fifo}: it is a FIFO (named pipe), not a regular file (--dll takes the DLL file)`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor: a host Wine older than 10 is said to be of no use for --prefix", () => {
  assert.match(
    wineCheck("/usr/bin/wine", "wine-8.0 (Debian 8.0~repack-4)").detail,
    /is wine-8\.0 .*too old for --prefix \(Deno for Windows needs Wine 10 or newer\)/,
  );
  assert.match(
    wineCheck("/usr/bin/wine", "wine-10.0").detail,
    /^\/usr\/bin\/wine \(wine-10\.0\) \(for programs in your prefixes/,
  );
  assert.match(wineCheck(undefined, undefined).detail, /not installed/);
});

Deno.test("doctor finds the C runtime of a program's own DLLs beside it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-doctor-" });
  const k32 = { dll: "KERNEL32.dll", symbols: ["ExitProcess"] };
  const pe = (name: string, imports: string[], dll = true) =>
    writePe(`${dir}/${name}`, {
      dll,
      imports: [k32, ...imports.map((d) => ({ dll: d, symbols: ["f"] }))],
    });
  const crt = async (exe: string) => (await checkExe(exe))[1];
  try {
    // A stub: the program imports its engine (another case), which
    // imports the code that uses the UCRT; a cycle is followed once.
    const stub = await pe("stub.exe", ["ENGINE.DLL"], false);
    await pe("engine.dll", ["core.dll", "stub.exe"]);
    await pe("core.dll", ["api-ms-win-crt-heap-l1-1-0.dll", "engine.dll"]);
    assert.deepEqual(await crt(stub), {
      check: "C runtime",
      ok: true,
      detail:
        "uses the UCRT dynamically only through core.dll (api-ms-win-crt-heap-l1-1-0.dll): heapshift can take over the allocations made there, not those of the program's own code, which imports no C runtime DLL",
    });
    // A DLL it only delay-loads may never load: not followed.
    const lazy = `${dir}/lazy.exe`;
    await writePe(lazy, {
      imports: [k32],
      delayImports: [{ dll: "core.dll", symbols: ["f"] }],
    });
    assert.equal((await crt(lazy)).ok, false);
    // Nothing that uses a C runtime DLL, also among the DLLs beside it.
    const none = await pe("none.exe", ["plain.dll", "missing.dll"], false);
    await pe("plain.dll", []);
    assert.deepEqual(await crt(none), {
      check: "C runtime",
      ok: false,
      detail:
        "imports no C runtime DLL (neither it nor the DLLs it imports at start from beside it import ucrtbase.dll or api-ms-win-crt-heap; delay-loaded ones are not looked into): it links its C runtime statically, or uses none, so heapshift has no allocator to take over",
    });
    // In Windows' own directory the DLLs beside it are Windows', not its.
    await Deno.mkdir(`${dir}/System32`);
    await pe("System32/core.dll", ["api-ms-win-crt-heap-l1-1-0.dll"]);
    const sys = await pe("System32/tool.exe", ["core.dll"], false);
    assert.match(
      (await crt(sys)).detail,
      /the DLLs beside a program in Windows' own directories are not looked into/,
    );
    const debug = await pe("debug.exe", ["ucrtbased.dll"], false);
    // Not a failed check: inject and launch go ahead (with a warning), as
    // a plugin it loads may use the UCRT.
    assert.deepEqual(await crt(debug), {
      check: "C runtime",
      ok: null,
      detail:
        "uses the debug UCRT (ucrtbased.dll), a debug build's runtime: heapshift hooks only the release UCRT (ucrtbase.dll), so it cannot take over this program's own allocations, only those of a module it loads that uses the UCRT (a plugin); inject and launch go ahead with a warning",
    });
    // The old runtime in the program, the UCRT in its DLL: the DLL's
    // allocations can be taken over.
    const mixed = await pe("mixed.exe", ["msvcrt.dll", "core.dll"], false);
    assert.equal((await crt(mixed)).ok, true);
    assert.match(
      (await crt(mixed)).detail,
      /own code, which uses the old C runtime$/,
    );
    const old = await pe("old.exe", ["msvcrt.dll", "plain.dll"], false);
    assert.deepEqual(await crt(old), {
      check: "C runtime",
      ok: null,
      detail:
        "uses the old C runtime (msvcrt.dll), not the UCRT: heapshift hooks only the UCRT, so it cannot take over this program's own allocations, only those of a module it loads that uses the UCRT (a plugin); inject and launch go ahead with a warning",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor: a program whose import table cannot be read is a failed check, the others reported", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-doctor-" });
  try {
    const bytes = buildPe({ format: "PE32+" });
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    // The import directory (data directory 1) of the PE32+ optional
    // header, sent past the end of the image.
    const opt = v.getUint32(0x3c, true) + 24;
    v.setUint32(opt + 112 + 8, 0x7fff_0000, true);
    const exe = `${dir}/broken.exe`;
    await Deno.writeFile(exe, bytes);
    const checks = await checkExe(exe);
    assert.deepEqual(checks.map((c) => [c.check, c.ok]), [
      ["program", true],
      ["C runtime", false],
    ]);
    assert.equal(checks[1].detail.split(exe).length, 2, "names it once");
    assert.match(checks[1].detail, /imports cannot be read/);
    // The whole report still comes (--json's shape), the failure in it.
    const all = await doctor(exe);
    assert.ok(all.some((c) => c.check === "hook DLL"));
    assert.equal(all.find((c) => c.check === "C runtime")?.ok, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor: a --dll that is not heapshift's fails, saying it would take nothing over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-doctor-" });
  try {
    const other = await writePe(`${dir}/other.dll`, { dll: true });
    const hook = await writePe(`${dir}/heapshift.dll`, {
      dll: true,
      exports: { dll: "heapshift.dll", names: ["heapshift_anchor"] },
    });
    const check = async (dll: string) =>
      (await doctor(undefined, dll)).find((c) => c.check === "heapshift DLL");
    const refused = await check(other);
    assert.equal(refused?.ok, false);
    assert.match(
      refused!.detail,
      /other\.dll is not heapshift's hook DLL .*heapshift_anchor.*nothing/,
    );
    assert.equal((await check(hook))?.ok, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// doctor's wine is the one the commands run ($WINE as wine_bridge takes it):
// an empty $WINE counts as unset, a command name is looked up on PATH, and
// one that names nothing is said (the commands refuse it).
Deno.test({
  name: "doctor: the wine check takes $WINE as the commands do",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withVars(["WINE", "PATH"], async (dir) => {
      const fake = `${dir}/mywine`;
      await Deno.writeTextFile(fake, "#!/bin/sh\necho wine-10.0\n");
      await Deno.chmod(fake, 0o755);
      const wineOf = async () =>
        (await doctor(undefined)).find((c) => c.check === "wine")!.detail;
      Deno.env.set("PATH", `${dir}:${Deno.env.get("PATH") ?? ""}`);
      Deno.env.set("WINE", "mywine");
      assert.match(await wineOf(), new RegExp(`^${fake} \\(wine-10\\.0\\)`));
      Deno.env.set("WINE", `${dir}/nowine`);
      assert.match(
        await wineOf(),
        new RegExp(`^\\$WINE names ${dir}/nowine, which does not exist`),
      );
      await Deno.rename(fake, `${dir}/wine`);
      Deno.env.set("WINE", "");
      assert.match(
        await wineOf(),
        new RegExp(`^${dir}/wine \\(wine-10\\.0\\)`),
      );
    }),
});

// A HEAPSHIFT_WINDENO that names no file is what the commands refuse
// (wine_bridge): doctor names it, not the provisioning it replaces.
Deno.test({
  name:
    "doctor: a HEAPSHIFT_WINDENO that names no file (or a folder) is named in the windows deno check",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withVars(["HEAPSHIFT_WINDENO"], async (dir) => {
      for (const named of [`${dir}/mine/deno.exe`, dir]) {
        Deno.env.set("HEAPSHIFT_WINDENO", named);
        const check = (await doctor(undefined)).find((c) =>
          c.check === "windows deno"
        )!;
        assert.equal(check.ok, false);
        assert.match(
          check.detail,
          new RegExp(`^HEAPSHIFT_WINDENO names ${named}, which is not a file`),
        );
      }
    }),
});

Deno.test("doctor: a DLL whose format check failed gets no 'DLL loads' line (nothing is said of a DLL that is not one)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-doctor-" });
  try {
    // An executable, not a DLL: the format check fails.
    const exe = await writePe(`${dir}/notadll.dll`, {});
    const checks = await doctor(undefined, exe);
    assert.equal(checks.find((c) => c.check === "DLL format")?.ok, false);
    assert.deepEqual(
      checks.filter((c) => c.check === "DLL loads"),
      [],
      JSON.stringify(checks),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor: ARM64 Windows is said to be unsupported for x64 programs (emulated there, which inject refuses), x64 Windows is not mentioned", () => {
  assert.equal(nativeCheck(0x8664), undefined);
  assert.deepEqual(nativeCheck(0xaa64), {
    check: "windows",
    ok: false,
    detail:
      "ARM64 Windows: heapshift refuses x64 programs here (they run emulated, and their ucrtbase.dll is ARM64X code it cannot patch), and it was never run here for x86 ones; it supports x64 and x86 programs on x64 Windows",
  });
});
