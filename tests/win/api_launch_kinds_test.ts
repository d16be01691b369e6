// launch() of a file that is not a program it can start says what the file
// is and what to launch instead: a shortcut, a batch file, a 16-bit (DOS)
// program, a DLL. Nothing is started.
import { HeapshiftError, launch } from "../../mod.ts";
import { assertEquals, assertRejects } from "./assert.ts";
import { fixture, hookDll, test } from "./harness.ts";

test("launch of a shortcut, a batch file, a 16-bit program or a DLL says what it is and what to launch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift kinds " });
  try {
    // A .lnk starts with its header size (0x4C) and its class id.
    const lnk = new Uint8Array(128);
    lnk.set([0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0]);
    lnk.set([0, 0, 0, 0x46], 16);
    await Deno.writeFile(`${dir}\\Game.lnk`, lnk);
    await Deno.writeTextFile(`${dir}\\start.bat`, "@echo off\r\ngame.exe\r\n");
    await Deno.writeTextFile(`${dir}\\start.cmd`, "@echo off\r\n");
    // MZ with no PE header after it (e_lfanew 0): DOS or Windows 3.x.
    const dos = new Uint8Array(256);
    dos.set([0x4d, 0x5a]);
    await Deno.writeFile(`${dir}\\old.exe`, dos);
    await Deno.copyFile(fixture("probe.dll"), `${dir}\\lib.dll`);
    const cases: [string, string][] = [
      [
        "Game.lnk",
        "a shortcut (.lnk): launch the program it points to (the Target in the shortcut's Properties)",
      ],
      [
        "start.bat",
        "a batch file, which Windows runs with cmd.exe: launch the program it starts",
      ],
      [
        "start.cmd",
        "a batch file, which Windows runs with cmd.exe: launch the program it starts",
      ],
      [
        "old.exe",
        "a 16-bit (DOS or Windows 3.x) program, which 64-bit Windows does not run",
      ],
      ["lib.dll", "a DLL, not a program: launch the program that loads it"],
    ];
    for (const [name, why] of cases) {
      const e = await assertRejects(
        () => launch(`${dir}\\${name}`, { dlls: [hookDll()] }),
        HeapshiftError,
      );
      assertEquals(
        [e.kind, e.message],
        ["unsupported", `Cannot launch ${dir}\\${name}: it is ${why}`],
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
