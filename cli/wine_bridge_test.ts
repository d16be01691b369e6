import assert from "node:assert/strict";
import { hostWineVersion, windowsDenoCandidates } from "./wine_bridge.ts";
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

Deno.test(
  "hostWineVersion: a wine wrapper whose child holds its output and hangs is given up on at 15 s, as one that hangs itself is",
  { ignore: ON_WINDOWS },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      // A shell wrapper that runs its wine without exec: once it is
      // stopped, its child still holds the output pipe.
      const wine = `${dir}/wine`;
      await Deno.writeTextFile(wine, `#!/bin/sh\nsleep 40\necho wine-8.0\n`);
      await Deno.chmod(wine, 0o755);
      const t0 = Date.now();
      assert.equal(await hostWineVersion(wine), undefined);
      const took = Date.now() - t0;
      assert.ok(took < 25_000, `${took} ms`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
