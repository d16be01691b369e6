// specialk's choice of DLL: on Linux a missing default DLL is not built
// (building sets up the project's Wine environment, as root, ~5 GB).
import assert from "node:assert/strict";
import { specialkDll } from "./specialk.ts";
import { CliError } from "../output.ts";

Deno.test({
  name:
    "specialk on Linux says to build a missing DLL instead of building it (as with --prefix)",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const built: string[][] = [];
      const builder = (args: string[]) => {
        built.push(args);
        return Promise.resolve(1);
      };
      for (const arch of ["x64", "x86"] as const) {
        await assert.rejects(
          specialkDll(undefined, arch, { dir, builder }),
          (e) =>
            e instanceof CliError &&
            e.message ===
              `The ${
                arch === "x64" ? "64" : "32"
              }-bit hook DLL is not built (${dir}/${
                arch === "x64" ? "heapshift.dll" : "heapshift32.dll"
              }): run \`deno task build-dll${
                arch === "x64" ? "" : " --arch x86"
              }\`, or pass --dll PATH`,
        );
      }
      assert.deepEqual(built, [], "nothing was built");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
