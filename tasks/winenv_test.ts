import assert from "node:assert/strict";
import {
  diagnose,
  hostDebianMirror,
  type HostFacts,
  inputsTag,
} from "./winenv.ts";

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
  assert.match(msg, /1\.0 GiB free and it needs 8 GiB/);
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

Deno.test("hostDebianMirror: the host's own Debian archive, from deb822 or one-line sources", () => {
  const deb822 = `Types: deb
# a comment
URIs: http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main`;
  assert.equal(hostDebianMirror([deb822]), "http://mirror.example.org/debian");
  // third-party repositories and security archives are passed over
  const thirdParty = `Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main`;
  const oneLine = [
    "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main",
    "deb http://security.debian.org/debian-security bookworm-security main",
    "# deb http://commented.example/debian bookworm main",
    "deb [arch=amd64 signed-by=/k.gpg] http://proxy.lan:3142/debian trixie main",
  ].join("\n");
  assert.equal(
    hostDebianMirror([thirdParty, oneLine]),
    "http://proxy.lan:3142/debian",
  );
  assert.equal(hostDebianMirror([thirdParty]), undefined);
  assert.equal(
    hostDebianMirror([deb822.replace("Types: deb", "Types: deb\nEnabled: no")]),
    undefined,
  );
});

Deno.test("inputsTag: a step's marker changes with what it installs", () => {
  assert.equal(inputsTag("2.9.5"), inputsTag("2.9.5"));
  assert.notEqual(inputsTag("2.9.5"), inputsTag("2.9.6"));
  assert.notEqual(inputsTag("wine wine64"), inputsTag("wine wine64 gdb"));
  assert.match(inputsTag(""), /^[0-9a-f]{8}$/);
});

Deno.test("diagnose: a cache inside the checkout is refused, saying where to put it", () => {
  const why = diagnose({
    uid: 0,
    freeBytes: 100 * 1024 ** 3,
    archive: true,
    haveBase: false,
    cacheInCheckout: true,
  });
  assert.match(
    why ?? "",
    /inside the checkout.*Set XDG_CACHE_HOME to a directory outside/,
  );
});
