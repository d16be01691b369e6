// The tasks' options that name where output goes (build-dll --out-dir,
// bench --out), natively on Windows: a ':' after the drive names an NTFS
// alternate data stream, not a directory of that name (under Wine, which
// has no streams, the write failed later without saying why).
import { assert, assertEquals } from "./assert.ts";
import { repoPath, test } from "./harness.ts";

async function run(
  script: string,
  args: string[],
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: repoPath("."),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

test("build-dll --out-dir and bench --out with a ':' after the drive are refused before anything is built or run, nothing written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-out-" });
  try {
    const bad = `${dir}\\bad:name`;
    // a usage error, exit 2 (build-dll said 1 before its arguments were
    // checked as the other tasks' are)
    for (
      const [script, option] of [
        ["tasks/build_dll.ts", "--out-dir"],
        ["bench/harness.ts", "--out"],
        ["bench/programs.ts", "--out"],
      ] as const
    ) {
      const r = await run(script, [option, bad]);
      assertEquals(r.code, 2, `${script}: ${r.stderr}`);
      assert(
        r.stderr.includes(
          `${option} ${bad}: the ':' makes it a stream of ${dir}\\bad (an NTFS alternate data stream), not a file of that name: choose a name without ':'`,
        ),
        `${script}: ${r.stderr}`,
      );
    }
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
