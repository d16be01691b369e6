// tasks/build_dll.ts natively on Windows: `deno task test`, `deno task
// demo` and `deno task compile` build the hook DLL with the default
// toolchain, and offer no --toolchain.
import { assert, assertEquals } from "./assert.ts";
import { fixture, repoPath, test } from "./harness.ts";

test("build-dll on Windows: a Visual Studio without the C++ tools is no reason to refuse mingw", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapshift-vs-" });
  try {
    // A Visual Studio Installer whose vswhere finds no installation with
    // the C++ tools (Visual Studio for C# only): cli_echo, which prints
    // its arguments, is no such installation's path.
    const installer = `${dir}\\pf86\\Microsoft Visual Studio\\Installer`;
    await Deno.mkdir(installer, { recursive: true });
    await Deno.copyFile(fixture("cli_echo.exe"), `${installer}\\vswhere.exe`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `import { buildDll } from "./tasks/build_dll.ts";
         try {
           await buildDll({ arch: "x64", outDir: ${
          JSON.stringify(`${dir}\\out`)
        } });
         } catch (e) {
           console.error("caught: " + e.message);
           Deno.exit(3);
         }`,
      ],
      cwd: repoPath("."),
      env: {
        "ProgramFiles(x86)": `${dir}\\pf86`,
        // and no mingw either: the build goes as far as looking for it
        PATH: `${dir}\\none`,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 3, stderr);
    assert(
      stderr.includes(
        "caught: Cannot build ",
      ) && stderr.includes("x86_64-w64-mingw32ucrt-gcc was not found"),
      stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
