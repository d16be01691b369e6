import assert from "node:assert/strict";
import { diagnose, type HostFacts } from "./winenv.ts";

const good: HostFacts = {
  uid: 0,
  freeBytes: 100 * 1024 ** 3,
  archive: true,
  haveBase: false,
};

Deno.test("diagnose accepts a root host with space and network", () => {
  assert.equal(diagnose(good), undefined);
});

Deno.test("diagnose asks for root", () => {
  assert.match(diagnose({ ...good, uid: 1000 })!, /needs root.*sudo/);
});

Deno.test("diagnose reports a full disk with the space needed", () => {
  const msg = diagnose({ ...good, freeBytes: 1024 ** 3 })!;
  assert.match(msg, /1\.0 GiB free and it needs 4 GiB/);
  assert.match(msg, /XDG_CACHE_HOME/);
});

Deno.test("diagnose ignores free space once the base system exists", () => {
  assert.equal(diagnose({ ...good, freeBytes: 0, haveBase: true }), undefined);
});

Deno.test("diagnose reports an unreachable Debian archive", () => {
  const msg = diagnose({ ...good, archive: "connection refused" })!;
  assert.match(
    msg,
    /Cannot reach the Debian archive .*connection refused.*network/,
  );
});
