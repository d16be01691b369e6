// launch(): DLLs added to the suspended program's import table initialise
// before any of its own code (TLS callback, CRT start-up, main).
import { HeapshiftError, launch, modules } from "../../mod.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { fixture, test } from "./harness.ts";

test("launch loads the DLL before the program's own code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    const out = `${dir}\\out.txt`;
    using proc = await launch(fixture("api_launchee.exe"), {
      args: [out],
      dlls: [fixture("api_early.dll")],
    });
    assert(proc.pid > 0);
    assertEquals(await proc.wait({ timeout: 30_000 }), 7);
    const text = await Deno.readTextFile(out);
    assert(text.includes("early_loaded=1"), text);
    // The DLL saw none of the program's own start-up yet.
    assert(text.includes("attached=1 tls=0 crt=0 main=0"), text);
    assert(text.includes("first_block=1"), text);
    // …and that those flags do get set by the program itself.
    assert(text.includes("self tls=1 crt=1"), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch passes arguments, environment and working directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    const out = `${dir}\\out.txt`;
    using proc = await launch(fixture("api_launchee.exe"), {
      args: [out, "two words", 'a "quoted" arg', "trailing\\"],
      env: { HEAPSHIFT_API_TAG: "tag-42" },
      cwd: dir,
    });
    assertEquals(await proc.wait({ timeout: 30_000 }), 7);
    const lines = (await Deno.readTextFile(out)).split(/\r?\n/);
    assert(lines.includes("early_loaded=0"), lines.join("\n"));
    assert(lines.includes("tag=tag-42"), lines.join("\n"));
    assertEquals(
      lines.filter((l) => l.startsWith("arg=")),
      ["arg=two words", 'arg=a "quoted" arg', "arg=trailing\\"],
    );
    const cwd = lines.find((l) => l.startsWith("cwd="))!.slice(4);
    assertEquals(cwd.toLowerCase().replace(/\\$/, ""), dir.toLowerCase());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch reports a DLL that cannot load in the program", async () => {
  // Program and DLL in a directory without the DLL's dependency.
  const dir = await Deno.makeTempDir({ prefix: "heapshift-launch-" });
  try {
    await Deno.copyFile(fixture("sleeper.exe"), `${dir}\\sleeper.exe`);
    const dll = `${dir}\\api_missingdep.dll`;
    await Deno.copyFile(fixture("api_missingdep.dll"), dll);
    const e = await assertRejects(
      () => launch(`${dir}\\sleeper.exe`, { dlls: [dll] }),
      HeapshiftError,
      "Cannot launch with api_missingdep.dll: the program's loader stopped it with 0xC0000135: a DLL it needs was not found (STATUS_DLL_NOT_FOUND); missing: api_adep.dll",
    );
    assertEquals(e.kind, "load-failed");
    await assertRejects(
      () =>
        launch(fixture("sleeper.exe"), { dlls: [fixture("api_initfail.dll")] }),
      HeapshiftError,
      "Cannot launch with api_initfail.dll: the program's loader stopped it with 0xC0000142: a DLL failed to initialise",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("launch returns once the DLL is in a long-running program", async () => {
  using proc = await launch(fixture("sleeper.exe"), {
    dlls: [fixture("probe.dll")],
  });
  try {
    assertEquals(proc.exitCode(), undefined);
    assert(
      modules(proc.pid).some((m) => m.name.toLowerCase() === "probe.dll"),
    );
  } finally {
    proc.kill();
    assertEquals(await proc.wait({ timeout: 10_000 }), 1);
  }
});
