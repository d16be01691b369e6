import assert from "node:assert/strict";
import { windowsDenoCandidates } from "./wine_bridge.ts";
import { cacheDir } from "../tasks/winenv.ts";
import { withVar } from "../pe/_test_dir.ts";

Deno.test("windowsDenoCandidates: the Windows Deno of the cache provisioning uses, a relative XDG_CACHE_HOME ignored as it is there", async () => {
  await withVar("XDG_CACHE_HOME", (dir) => {
    for (const xdg of [dir, "relative/cache", ""]) {
      Deno.env.set("XDG_CACHE_HOME", xdg);
      const found = windowsDenoCandidates();
      assert.ok(
        found.includes(`${cacheDir()}/rootfs/opt/heapshift/deno.exe`),
        `XDG_CACHE_HOME=${xdg}: ${found.join(" ")}`,
      );
      assert.ok(!found.some((p) => p.startsWith("relative/")));
    }
    return Promise.resolve();
  });
});
