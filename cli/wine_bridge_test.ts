import assert from "node:assert/strict";
import { windowsDenoCandidates } from "./wine_bridge.ts";
import { cacheDir } from "../tasks/winenv.ts";
import { withVar } from "../pe/_test_dir.ts";

// The Linux CLI's bridge to the Windows Deno under Wine: no such thing
// runs on Windows, where commands act on Windows programs directly.
const ON_WINDOWS = Deno.build.os === "windows";

Deno.test(
  "windowsDenoCandidates: the Windows Deno of the cache provisioning uses, a relative XDG_CACHE_HOME ignored as it is there",
  { ignore: ON_WINDOWS },
  async () => {
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
  },
);
