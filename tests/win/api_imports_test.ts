// imports(): dbghelp's view and the pure-TypeScript reader of pe/ agree on
// real executables and DLLs.
import {
  HeapshiftError,
  imports,
  patchImports,
  removeImport,
} from "../../mod.ts";
import { FILE_ATTRIBUTE, getFileAttributes } from "../../ffi/mod.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { fixture, test } from "./harness.ts";

const SYSTEM = [
  "notepad.exe",
  "cmd.exe",
  "kernel32.dll",
  "kernelbase.dll",
  "ucrtbase.dll",
  "user32.dll",
  "gdi32.dll",
  "dbghelp.dll",
  "msvcrt.dll",
  "ole32.dll",
  "shell32.dll",
  "ws2_32.dll",
];

function realFiles(): string[] {
  const sys = `${Deno.env.get("SystemRoot") ?? "C:\\windows"}\\system32`;
  const files = [
    Deno.execPath(),
    fixture("sleeper.exe"),
    fixture("api_launchee.exe"),
    fixture("probe.dll"),
    fixture("api_missingdep.dll"),
    ...SYSTEM.map((f) => `${sys}\\${f}`),
  ];
  return files.filter((f) => {
    try {
      return Deno.statSync(f).isFile;
    } catch {
      return false;
    }
  });
}

test("dbghelp and the pe/ reader agree on real executables", async () => {
  const files = realFiles();
  assert(files.length >= 10, `only ${files.length} files to compare`);
  let dlls = 0;
  for (const file of files) {
    const viaDbghelp = await imports(file, { reader: "dbghelp" });
    const viaPe = await imports(file, { reader: "pe" });
    assertEquals(viaDbghelp, viaPe, `readers disagree on ${file}`);
    dlls += viaPe.length;
  }
  assert(dlls > 50, `only ${dlls} imported DLLs seen in ${files.length} files`);
  // The default on Windows is dbghelp.
  const sleeper = await imports(fixture("sleeper.exe"));
  assert(sleeper.some((d) => /^kernel32\.dll$/i.test(d.dll)));
  assert(sleeper.some((d) => /^api-ms-win-crt-heap/i.test(d.dll)));
});

test("imports of a missing or non-PE file", async () => {
  const missing = fixture("no-such.exe");
  await assertRejects(
    () => imports(missing),
    HeapshiftError,
    `Cannot read the imports of ${missing}: no such file`,
  );
  const dir = await Deno.makeTempDir({ prefix: "heapshift-imports-" });
  try {
    await Deno.writeTextFile(`${dir}\\x.exe`, "MZ but nothing else");
    for (const reader of ["dbghelp", "pe"] as const) {
      await assertRejects(
        () => imports(`${dir}\\x.exe`, { reader }),
        HeapshiftError,
        `Cannot read the imports of ${dir}\\x.exe: not a valid PE file`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("imports of a file cut inside its import directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-imports-" });
  try {
    const whole = await Deno.readFile(fixture("sleeper.exe"));
    const [first] = await imports(fixture("sleeper.exe"), { reader: "pe" });
    const cut = `${dir}\\cut.exe`;
    await Deno.writeFile(cut, whole.subarray(0, first.descriptorOffset + 8));
    for (const reader of ["dbghelp", "pe"] as const) {
      await assertRejects(
        () => imports(cut, { reader }),
        HeapshiftError,
        `Cannot read the imports of ${cut}: not a valid PE file`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("patchImports and removeImport in place keep a hidden, system program so, and its backups", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-api-" });
  try {
    const exe = `${dir}\\game.exe`;
    await Deno.copyFile(fixture("pe_first_import.exe"), exe);
    const set = (flag: string, path: string) =>
      new Deno.Command("cmd.exe", { args: ["/c", "attrib", flag, path] })
        .output();
    await set("+h", exe);
    await set("+s", exe);
    const kept = FILE_ATTRIBUTE.HIDDEN | FILE_ATTRIBUTE.SYSTEM;
    assertEquals(getFileAttributes(exe) & kept, kept);
    const patched = await patchImports(exe, { inPlace: true });
    assertEquals(patched.action, "added");
    const removed = await removeImport(exe, { inPlace: true });
    assertEquals(removed.action, "removed");
    for (const path of [exe, patched.backup!, removed.backup!]) {
      assertEquals(getFileAttributes(path) & kept, kept, path);
      await set("-h", path);
      await set("-s", path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
