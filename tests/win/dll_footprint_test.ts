// Loading heapshift.dll brings no other module into a program that does
// not have it already: mimalloc's random seeds and large-page calls go to
// an advapi32 (or bcrypt) the program loaded itself, or to the CPU's
// RDRAND (dll/advapi.c). Under Wine advapi32 would bring sechost and
// msvcrt (~1 MB resident) and bcrypt gnutls (~3 MB), into every process.
import { assertEquals } from "./assert.ts";
import { fixture, hookDll, testArches } from "./harness.ts";

testArches(
  "footprint: loading heapshift brings in no other DLL",
  async (arch) => {
    const out = await new Deno.Command(fixture("dll_footprint.exe", arch), {
      args: [hookDll(arch)],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, text);
    const lines = text.split(/\r?\n/).filter(Boolean);
    assertEquals(lines.at(-1), "done", text);
    assertEquals(
      lines.filter((l) => l.startsWith("new=")),
      [`new=${arch === "x86" ? "heapshift32.dll" : "heapshift.dll"}`],
      text,
    );
    assertEquals(lines.includes("live=1"), true, text);
  },
);
