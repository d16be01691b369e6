import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { notAProgram } from "./_image_kind.ts";

/** An MZ header whose e_lfanew (0x3c) points at `signature`. */
function mz(signature: string, size = 256): Uint8Array {
  const b = new Uint8Array(size);
  b.set([0x4d, 0x5a]);
  // e_lfarlc: the relocations after the 64-byte header, as a linker of new
  // executables puts them
  new DataView(b.buffer).setUint16(0x18, 0x40, true);
  new DataView(b.buffer).setUint32(0x3c, 0x80, true);
  b.set(new TextEncoder().encode(signature), 0x80);
  return b;
}

Deno.test("notAProgram: a damaged or cut-off Windows program is said to be one, not a 16-bit program", () => {
  // "PE\0\0" where the header points, but too short for its headers
  assertEquals(
    notAProgram("game.exe", mz("PE\0\0", 0x84)),
    "a damaged or cut-off Windows program (its headers cannot be read): reinstall or repair it",
  );
  // the header points past the end of the file
  const cut = mz("PE\0\0").subarray(0, 0x40);
  assertEquals(
    notAProgram("game.exe", cut),
    "a damaged or cut-off Windows program (its headers cannot be read): reinstall or repair it",
  );
});

Deno.test("notAProgram: 16-bit programs (NE, or MS-DOS with no new header) are said to be 16-bit", () => {
  const sixteen =
    "a 16-bit (DOS or Windows 3.x) program, which 64-bit Windows does not run";
  assertEquals(notAProgram("old.exe", mz("NE")), sixteen);
  const dos = new Uint8Array(64);
  dos.set([0x4d, 0x5a]); // e_lfanew 0: a plain MS-DOS program
  assertEquals(notAProgram("dos.exe", dos), sixteen);
  // MS-DOS's relocation table right after its 28-byte header (e_lfarlc
  // 0x1c): the bytes at 0x3c are relocations, not a pointer to a new header
  const relocated = new Uint8Array(256);
  relocated.set([0x4d, 0x5a]);
  new DataView(relocated.buffer).setUint16(0x18, 0x1c, true);
  new DataView(relocated.buffer).setUint32(0x3c, 0x0012_0090, true);
  assertEquals(notAProgram("dos.exe", relocated), sixteen);
  assertEquals(
    notAProgram("x.txt", new Uint8Array([1, 2])),
    "not a Windows program (.exe)",
  );
});
