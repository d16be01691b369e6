import assert from "node:assert/strict";
import { homedir } from "node:os";
import { isAbsolute } from "node:path";
import {
  aptInstall,
  bounded,
  cacheDir,
  checkMsUcrt,
  diagnose,
  hostDebianMirror,
  type HostFacts,
  hostFacts,
  inputsTag,
  isProvisioned,
  marker,
  MS_UCRT,
  msUcrtPath,
  prefixScript,
  removeStale,
  rootfsDir,
  runChecked,
  staleBase,
} from "./winenv.ts";
import { withDir, withVar, withVars } from "../pe/_test_dir.ts";
import { rootfs as peTestsRootfs } from "../pe/_objdump_test_util.ts";
import { denoDirEnv, runScript } from "./_test_utils.ts";

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

Deno.test("diagnose: without npm, which fetches the Windows Deno and Microsoft's ucrtbase.dll, says so before anything is downloaded", () => {
  for (const haveBase of [false, true]) {
    const msg = diagnose({ ...good, haveBase, npm: false });
    assert.match(
      msg ?? "",
      /^Cannot provision the Wine environment: .*npm registry.*`npm`.*not on PATH.*Install npm/,
    );
  }
});

Deno.test("diagnose reports an unreachable Debian archive", () => {
  const msg = diagnose({ ...good, archive: "connection refused" })!;
  assert.match(
    msg,
    /Cannot reach the Debian archive .*connection refused.*network/,
  );
});

Deno.test({
  name:
    "hostFacts: a run interrupted after the downloads from Debian (while creating the Wine prefix) goes on without reaching the archive",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withVars(
      ["XDG_CACHE_HOME", "HEAPSHIFT_DEBIAN_MIRROR"],
      async (dir) => {
        Deno.env.set("XDG_CACHE_HOME", dir);
        // nothing listens there: the network is down, or the mirror hiccups
        Deno.env.set("HEAPSHIFT_DEBIAN_MIRROR", "http://127.0.0.1:8/debian");
        await Deno.mkdir(rootfsDir(), { recursive: true });
        await Deno.writeTextFile(`${rootfsDir()}/.heapshift-base`, "");
        for (const step of ["packages", "i386", "deno", "msucrt"]) {
          await Deno.writeTextFile(marker(step), "done\n");
        }
        const facts = await hostFacts();
        assert.equal(diagnose(facts), undefined);
      },
    );
  },
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

Deno.test("hostDebianMirror: third-party repositories with Debian-like suites are not Debian's archive", () => {
  const chrome =
    "deb [arch=amd64] https://dl.google.com/linux/chrome/deb/ stable main";
  const docker = `Types: deb
URIs: https://download.docker.com/linux/debian
Suites: bookworm
Components: stable`;
  const vscode = `Types: deb
URIs: https://packages.microsoft.com/repos/code
Suites: stable
Components: main`;
  const retired = "deb http://archive.debian.org/debian buster main";
  const debian = `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main`;
  assert.equal(
    hostDebianMirror([chrome, vscode, retired, docker, debian]),
    "http://deb.debian.org/debian",
  );
  assert.equal(hostDebianMirror([chrome, vscode, retired]), undefined);
});

Deno.test(
  "markers named the old way still count for the inputs they were made with",
  {
    // The Wine environment is provisioned on Linux only: on Windows
    // isProvisioned() is true at once and reads no markers.
    ignore: Deno.build.os === "windows",
  },
  async () => {
    await withVar("XDG_CACHE_HOME", async (dir) => {
      Deno.env.set("XDG_CACHE_HOME", dir);
      const root = rootfsDir();
      await Deno.mkdir(root, { recursive: true });
      for (const step of ["packages", "i386", "deno", "prefix"]) {
        await Deno.writeTextFile(`${root}/.heapshift-${step}-v1`, "old\n");
      }
      isProvisioned(); // no prefix here: false, but the markers are adopted
      const names = [...Deno.readDirSync(root)].map((e) => e.name).sort();
      assert.equal(names.length, 4, names.join(" "));
      assert.ok(names.every((n) => /^\.heapshift-\w+-v1-[0-9a-f]{8}$/.test(n)));
    });
  },
);

Deno.test({
  name:
    "runChecked: a provisioning command killed by a signal is a failure, not exit 0",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const killed = await runChecked("sh", ["-c", "kill -TERM $$"], {
      quiet: true,
    });
    assert.deepEqual([killed.ok, killed.why], [false, "killed by SIGTERM"]);
    const failed = await runChecked("sh", ["-c", "echo oops >&2; exit 3"], {
      quiet: true,
    });
    assert.deepEqual([failed.ok, failed.why, failed.stderr], [
      false,
      "exit 3",
      "oops\n",
    ]);
    assert.equal((await runChecked("true", [], { quiet: true })).ok, true);
  },
});

Deno.test({
  name:
    "runChecked: a provisioning command's output goes to stderr (stdout is a command's --json result on a first run)",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const script = `import { runChecked } from ${
      JSON.stringify(new URL("./winenv.ts", import.meta.url).href)
    };
const r = await runChecked("sh", ["-c", "echo out; echo err >&2"]);
console.error(r.ok);`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(r.stdout), "");
    assert.deepEqual(
      new TextDecoder().decode(r.stderr).trim().split("\n").sort(),
      ["err", "out", "true"],
    );
  },
});

Deno.test({
  name:
    "bounded: debootstrap stays in the run's process group, so a Ctrl-C that ends the run ends it too, not left writing into the directory the next run removes",
  // unshare -m needs root, as provisioning does
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "heapshift-bounded-" });
    const pidFile = `${dir}/pid`;
    const alive = (pid: number) => {
      try {
        return !/^\d+ \(.*\) [ZX]/.test(
          Deno.readTextFileSync(`/proc/${pid}/stat`),
        );
      } catch {
        return false;
      }
    };
    // A job of a terminal: a session whose leader (the shell, standing for
    // `deno task`) is not the wrapped command.
    const job = new Deno.Command("setsid", {
      args: [
        "sh",
        "-c",
        '"$@"; exit $?',
        "sh",
        "unshare",
        ...bounded(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 60`], 1800),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let pid = 0;
    try {
      for (let i = 0; i < 100 && !pid; i++) {
        await new Promise((r) => setTimeout(r, 100));
        pid = Number(await Deno.readTextFile(pidFile).catch(() => "0"));
      }
      assert.ok(pid > 0, "the wrapped command started");
      // what Ctrl-C does: SIGINT to the terminal's foreground process group
      Deno.kill(-job.pid, "SIGINT");
      for (let i = 0; i < 50 && alive(pid); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(!alive(pid), "the wrapped command outlived the Ctrl-C");
    } finally {
      if (pid && alive(pid)) Deno.kill(pid, "SIGKILL");
      await job.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "aptInstall: a .deb damaged in apt's download cache (right size, wrong bytes, which apt takes unchecked) does not fail every run after",
  // Real apt and dpkg: the environment's, in an overlay so it is unchanged,
  // from a local repository (no network).
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0 || !isProvisioned(),
  fn: async () => {
    const t = await Deno.makeTempDir({ prefix: "heapshift-apt-" });
    const deb = "/opt/probe/repo/heapshift-probe_1_all.deb";
    const control =
      "Package: heapshift-probe\nVersion: 1\nArchitecture: all\nMaintainer: heapshift <heapshift@localhost>\nDescription: probe\n";
    const script = [
      "set -e",
      "exec 1>&2",
      `T='${t}'`,
      'M="$T/merged"',
      // upper layer on a tmpfs: overlayfs refuses some filesystems there
      'mount -t tmpfs tmpfs "$T"',
      'mkdir -p "$T/upper" "$T/work" "$M"',
      `mount -t overlay overlay -o "lowerdir=${rootfsDir()},upperdir=$T/upper,workdir=$T/work" "$M"`,
      'mount --bind /proc "$M/proc"',
      'mount --rbind /dev "$M/dev"',
      'mkdir -p "$M/opt/probe/pkg/DEBIAN" "$M/opt/probe/pkg/usr/share/probe" "$M/opt/probe/repo"',
      `printf '${control}' > "$M/opt/probe/pkg/DEBIAN/control"`,
      'head -c 65536 /dev/urandom > "$M/opt/probe/pkg/usr/share/probe/data"',
      `chroot "$M" dpkg-deb -b /opt/probe/pkg ${deb} >/dev/null`,
      `size=$(stat -c %s "$M${deb}")`,
      `sum=$(sha256sum "$M${deb}" | cut -d" " -f1)`,
      `{ printf '${control}'; echo "Filename: ./\${0##*/}"; echo "Size: $size"; echo "SHA256: $sum"; } > "$M/opt/probe/repo/Packages"`,
      `echo 'deb [trusted=yes] copy:/opt/probe/repo ./' > "$M/opt/probe/sources.list"`,
      `printf 'Dir::Etc::sourcelist "/opt/probe/sources.list";\nDir::Etc::sourceparts "-";\n' > "$M/opt/probe/apt.conf"`,
      // what a disk left of an earlier run's download: its size, not its bytes
      `cp "$M${deb}" "$M/var/cache/apt/archives/"`,
      `dd if=/dev/zero of="$M/var/cache/apt/archives/\${0##*/}" bs=1 seek=20000 count=8192 conv=notrunc 2>/dev/null`,
      `chroot "$M" env APT_CONFIG=/opt/probe/apt.conf sh -c '${
        aptInstall(["heapshift-probe"])
      }'`,
      `st=$(chroot "$M" dpkg-query -W -f '\${Status}' heapshift-probe)`,
      `[ "$st" = "install ok installed" ] || { echo "heapshift-probe: $st"; exit 1; }`,
    ].join("\n");
    try {
      const res = await runChecked("unshare", [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        deb,
      ], { quiet: true });
      assert.ok(res.ok, `${res.why}: ${res.stderr}`);
    } finally {
      await Deno.remove(t, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "syncHostCertificates: runs that start at once (two checkouts, one cache) each leave the copy whole, and none fails",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withDir(async (dir) => {
      const env = { ...denoDirEnv(), XDG_CACHE_HOME: dir };
      await Deno.mkdir(`${dir}/heapshift/rootfs/opt/heapshift`, {
        recursive: true,
      });
      // two bundles (the host's changed between runs), each of one byte
      for (const c of "ab") {
        await Deno.writeTextFile(`${dir}/${c}.pem`, c.repeat(256 * 1024));
      }
      const script = `import { rootfsDir, syncHostCertificates } from ${
        JSON.stringify(new URL("./winenv.ts", import.meta.url).href)
      };
const copy = rootfsDir() + "/opt/heapshift/host-ca.pem";
for (let i = 0; i < 60; i++) {
  Deno.env.set("SSL_CERT_FILE", ${
        JSON.stringify(dir)
      } + (i % 2 ? "/a.pem" : "/b.pem"));
  syncHostCertificates();
  const got = Deno.readTextFileSync(copy);
  if (got.length !== 256 * 1024 || got.replaceAll(got[0], "") !== "") {
    throw new Error("a torn copy: " + got.length + " bytes");
  }
}`;
      const runs = await Promise.all(
        [0, 1, 2, 3].map(() =>
          new Deno.Command(Deno.execPath(), {
            args: ["eval", script],
            env,
            stdout: "null",
            stderr: "piped",
          }).output()
        ),
      );
      for (const r of runs) {
        assert.ok(r.success, new TextDecoder().decode(r.stderr));
      }
    });
  },
});

Deno.test({
  name:
    "provision: a run waiting for another's provisioning of the same cache says so, instead of hanging silent for minutes",
  // provisioning checks for root before it takes the lock
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await withDir(async (dir) => {
      // Left to do: the Wine prefix only, which needs no network.
      const root = `${dir}/heapshift/rootfs`;
      await Deno.mkdir(root, { recursive: true });
      await Deno.writeTextFile(`${root}/.heapshift-base`, "");
      await withVar("XDG_CACHE_HOME", async () => {
        Deno.env.set("XDG_CACHE_HOME", dir);
        for (const step of ["packages", "i386", "deno", "msucrt"]) {
          await Deno.writeTextFile(marker(step), "done\n");
        }
      });
      // the other run, provisioning
      using lock = await Deno.open(`${dir}/heapshift/.lock`, {
        create: true,
        write: true,
      });
      await lock.lock(true);
      const script = `import { provision } from ${
        JSON.stringify(new URL("./winenv.ts", import.meta.url).href)
      };
await provision();`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        env: { ...denoDirEnv(), XDG_CACHE_HOME: dir },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let said = "";
      const reader = child.stderr.pipeThrough(new TextDecoderStream())
        .getReader();
      const deadline = Date.now() + 30_000;
      try {
        while (!/waiting/.test(said) && Date.now() < deadline) {
          const next = await Promise.race([
            reader.read(),
            new Promise<null>((r) => setTimeout(() => r(null), 1000)),
          ]);
          if (next === null) continue;
          if (next.done) break;
          said += next.value;
        }
      } finally {
        child.kill("SIGKILL");
        await child.status;
        await reader.cancel();
      }
      assert.match(said, /waiting for another run.*provisioning/, said);
      // The child uses this Deno's module cache, whatever XDG_CACHE_HOME
      // says: downloading dax & co. into an empty one took past the
      // deadline on a loaded machine.
      assert.doesNotMatch(said, /Download https?:/, said);
    });
  },
});

Deno.test("checkMsUcrt: a changed or missing copy is removed with its marker, and the message says how to get it back", async () => {
  await withVar("XDG_CACHE_HOME", async (dir) => {
    Deno.env.set("XDG_CACHE_HOME", dir);
    const dll = msUcrtPath();
    await Deno.mkdir(dll.slice(0, dll.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(dll, "not Microsoft's");
    const markers = () =>
      [...Deno.readDirSync(rootfsDir())].filter((e) =>
        e.name.startsWith(".heapshift-msucrt-")
      ).length;
    await Deno.writeTextFile(
      `${rootfsDir()}/.heapshift-msucrt-v1-${inputsTag(MS_UCRT.sha256)}`,
      "done\n",
    );
    assert.equal(markers(), 1);
    await assert.rejects(checkMsUcrt(dll), (e: Error) => {
      assert.equal(e.name, "WinEnvError");
      assert.match(
        e.message,
        /is not Microsoft's ucrtbase\.dll 10\.0\.17134\.12 from obs-studio-node@0\.10\.10 \(SHA-256 [0-9a-f]{64}, want 8a91052e[0-9a-f]{56}\): run `deno task env provision` to fetch it again$/,
      );
      return true;
    });
    assert.equal(await Deno.stat(dll).catch(() => null), null);
    assert.equal(markers(), 0);
    await assert.rejects(
      checkMsUcrt(dll),
      /\(SHA-256 none \(missing\), want /,
    );
  });
});

Deno.test({
  name:
    "prefixScript: a prefix copy a killed run left half made is made again, not nested into or kept",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const r = await Deno.makeTempDir({ prefix: "heapshift-pfx-" });
    try {
      const def = `${r}/root/wine-default`;
      await Deno.mkdir(`${def}/drive_c/windows`, { recursive: true });
      await Deno.writeTextFile(`${def}/system.reg`, "system");
      await Deno.writeTextFile(`${def}/user.reg`, "user");
      await Deno.writeTextFile(`${def}/drive_c/windows/kernel32.dll`, "k");
      // what a run killed inside `cp -al` leaves: part of the copy
      await Deno.mkdir(`${r}/root/wine-x.tmp`);
      await Deno.link(`${def}/system.reg`, `${r}/root/wine-x.tmp/system.reg`);
      const script = ["set -e", `R='${r}'`, ...prefixScript("x")].join("\n");
      const res = await runChecked("sh", ["-c", script], { quiet: true });
      assert.ok(res.ok, `${res.why}: ${res.stderr}`);
      const names = (dir: string) =>
        [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names(`${r}/root/wine-x`), [
        "drive_c",
        "system.reg",
        "user.reg",
      ]);
      assert.ok(!names(`${r}/root`).includes("wine-x.tmp"));
      // the registry files are copies of their own, the rest hard links
      assert.equal(Deno.statSync(`${r}/root/wine-x/system.reg`).nlink, 1);
      assert.equal(
        Deno.statSync(`${r}/root/wine-x/drive_c/windows/kernel32.dll`).nlink,
        2,
      );
      // a second run finds the prefix made and leaves it
      await Deno.writeTextFile(`${r}/root/wine-x/user.reg`, "changed");
      assert.ok((await runChecked("sh", ["-c", script], { quiet: true })).ok);
      assert.equal(
        await Deno.readTextFile(`${r}/root/wine-x/user.reg`),
        "changed",
      );
    } finally {
      await Deno.remove(r, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "removeStale: a debootstrap killed mid-way left /proc mounted in its target; the next run unmounts it and removes the whole target",
  // mounting needs root, as provisioning does
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "heapshift stale " });
    const tmp = `${base}/rootfs.tmp`;
    const mounted = () =>
      Deno.readTextFileSync("/proc/self/mountinfo").includes(
        base.replaceAll(" ", "\\040"),
      );
    try {
      await Deno.mkdir(`${tmp}/proc`, { recursive: true });
      await Deno.mkdir(`${tmp}/etc`);
      await Deno.writeTextFile(`${tmp}/etc/passwd`, "half");
      const m = await runChecked(
        "mount",
        ["-t", "proc", "proc", `${tmp}/proc`],
        {
          quiet: true,
        },
      );
      assert.ok(m.ok, m.stderr);
      assert.ok(mounted());
      await removeStale(tmp);
      assert.ok(!mounted(), "the proc mount is gone");
      assert.equal(await Deno.stat(tmp).catch(() => null), null);
      await removeStale(tmp); // nothing there: nothing to do
    } finally {
      while (mounted()) {
        await runChecked("umount", ["-l", `${tmp}/proc`], { quiet: true });
      }
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test("cacheDir: XDG_CACHE_HOME when absolute; a relative one is ignored (XDG), HOME unset is the user's own home, not /root", () => {
  const saved = ["XDG_CACHE_HOME", "HOME"].map((k) => [k, Deno.env.get(k)]);
  try {
    Deno.env.set("HOME", "/home/someone");
    Deno.env.set("XDG_CACHE_HOME", "/var/cache/x y");
    assert.equal(cacheDir(), "/var/cache/x y/heapshift");
    for (const relative of ["cache", "./cache", ""]) {
      Deno.env.set("XDG_CACHE_HOME", relative);
      assert.equal(cacheDir(), "/home/someone/.cache/heapshift", relative);
    }
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.delete("HOME");
    assert.equal(cacheDir(), `${homedir()}/.cache/heapshift`);
    assert.ok(isAbsolute(cacheDir()));
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) Deno.env.delete(k!);
      else Deno.env.set(k!, v);
    }
  }
});

Deno.test("the PE tests look for the environment's tools where provisioning put them, whatever XDG_CACHE_HOME and HOME say", () => {
  const saved = ["XDG_CACHE_HOME", "HOME"].map((k) => [k, Deno.env.get(k)]);
  try {
    for (
      const [xdg, home] of [
        ["/var/cache/x", "/home/someone"],
        ["relative", "/home/someone"],
        [undefined, undefined],
      ]
    ) {
      for (const [k, v] of [["XDG_CACHE_HOME", xdg], ["HOME", home]]) {
        if (v === undefined) Deno.env.delete(k!);
        else Deno.env.set(k!, v);
      }
      assert.equal(peTestsRootfs(), rootfsDir(), `${xdg} ${home}`);
    }
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) Deno.env.delete(k!);
      else Deno.env.set(k!, v);
    }
  }
});

Deno.test("staleBase: a chroot of another Debian release than the one provisioning installs is not taken as provisioned", () => {
  const osRelease = (codename: string) =>
    `PRETTY_NAME="Debian GNU/Linux"\nNAME="Debian GNU/Linux"\nVERSION_CODENAME=${codename}\nID=debian\n`;
  assert.equal(staleBase(osRelease("trixie")), undefined);
  const msg = staleBase(osRelease("bookworm"));
  assert.ok(msg?.includes(rootfsDir()), msg);
  assert.match(
    msg ?? "",
    /is Debian bookworm, and this checkout's is trixie: remove it .*rm -rf.* and run again/,
  );
  // unreadable or unnamed: provisioning's own base goes on as before
  assert.equal(staleBase(""), undefined);
});

/** Deno's cache of this run, as Deno finds it on Linux. */
function denoDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return Deno.env.get("DENO_DIR") ||
    `${xdg && isAbsolute(xdg) ? xdg : `${homedir()}/.cache`}/deno`;
}

/**
 * Runs `deno task env provision` (tasks/winenv.ts provision) on a scratch
 * cache in `dir` whose base is there and whose steps but `left` are done:
 * the step left fails at once, its chroot being empty (no /proc to
 * mount), and nothing is downloaded. The archive check is answered by a
 * server of the test's own. Returns the run's exit code and stderr.
 */
async function failedStep(
  dir: string,
  left: string,
): Promise<{ code: number; stderr: string }> {
  const root = `${dir}/heapshift/rootfs`;
  for (const d of ["etc/apt", "root", "usr/local/bin"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.writeTextFile(`${root}/.heapshift-base`, "");
  await using archive = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(null, { status: 200 }),
  );
  const url = `http://127.0.0.1:${archive.addr.port}/debian`;
  await Deno.writeTextFile(
    `${root}/etc/apt/sources.list`,
    `deb ${url} trixie main\n`,
  );
  await withVar("XDG_CACHE_HOME", async () => {
    Deno.env.set("XDG_CACHE_HOME", dir);
    for (const step of ["packages", "i386", "deno", "msucrt", "prefix"]) {
      if (step !== left) await Deno.writeTextFile(marker(step), "done\n");
    }
  });
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./winenv.ts", import.meta.url).pathname,
      "provision",
    ],
    env: {
      XDG_CACHE_HOME: dir,
      HEAPSHIFT_DEBIAN_MIRROR: url,
      // this run's npm packages (dax), not a download into the scratch cache
      DENO_DIR: denoDir(),
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: run.code, stderr: new TextDecoder().decode(run.stderr) };
}

Deno.test({
  name:
    "provision: a step that fails in the chroot is named, with what to do: for an apt step the mirror to check and to run again; for the prefix what to remove",
  // unshare -m needs root, as provisioning does
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await withDir(async (dir) => {
      const root = `${dir}/heapshift/rootfs`;
      const apt = await failedStep(dir, "packages");
      assert.equal(apt.code, 1, apt.stderr);
      assert.match(
        apt.stderr,
        /\nerror: Provisioning step "packages" \(installing wine, .*\) failed \(exit \d+\): the messages above say why\. It downloads from the Debian mirror the chroot was made with \(http:\/\/127\.0\.0\.1:\d+\/debian, in .*\/rootfs\/etc\/apt\/sources\.list; HEAPSHIFT_DEBIAN_MIRROR picks another for a new chroot only\): check the network and that mirror, then run `deno task env provision` again, which goes on where this one stopped; if it fails again, remove .*\/rootfs \(the whole environment, made again by the next run\)\.\n$/,
      );
      assert.ok(apt.stderr.includes(`in ${root}/etc/apt/sources.list`));
    });
    await withDir(async (dir) => {
      const root = `${dir}/heapshift/rootfs`;
      const prefix = await failedStep(dir, "prefix");
      assert.equal(prefix.code, 1, prefix.stderr);
      assert.ok(
        prefix.stderr.endsWith(
          `\nerror: Provisioning step "prefix" (creating the Wine prefix) failed (exit 32): Wine could not make its prefix, or run /opt/heapshift/deno.exe in it (this step downloads nothing). Remove ${root}/root/wine-default, the prefix it was making, and run \`deno task env provision\` again; if it fails again, remove ${root} (the whole environment, made again by the next run).\n`,
        ),
        prefix.stderr,
      );
    });
  },
});

Deno.test("deno task env: --help prints the usage and does nothing else; an unknown option or command is refused (exit 2), naming it, before any work", async () => {
  const run = (...args: string[]) =>
    runScript(new URL("./winenv.ts", import.meta.url).href, args);
  for (
    const args of [["--help"], ["-h"], ["provision", "--help"], [
      "run",
      "--help",
    ]]
  ) {
    const r = await run(...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: deno task env provision \| run /);
    assert.equal(r.stderr, "", args.join(" "));
  }
  for (
    const [args, says] of [
      [["--bogus"], "unknown option --bogus"],
      [["bogus"], "unknown command bogus: provision, run or info"],
      [["info", "--bogus"], "unknown option --bogus"],
      [
        ["provision", "now"],
        "unexpected argument now",
      ],
      [[], "name what to do: provision, run or info"],
      // (a command does not start with -: no option of run's)
      [["run", "--bogus", "wine"], "unknown option --bogus"],
      [["run", "--prefix"], "--prefix needs a value"],
      [["run", "--prefix=x"], "run needs a command"],
      // the next option is no prefix name: `--` was taken as one, and the
      // command ran in a Wine prefix named `--`
      [
        ["run", "--prefix", "--", "true"],
        "--prefix needs a value (one starting with - as --prefix=VALUE)",
      ],
      [
        ["run", "--prefix", "--help"],
        "--prefix needs a value (one starting with - as --prefix=VALUE)",
      ],
    ] as const
  ) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `error: ${says}\nrun \`deno task env --help\` for the usage\n`,
    );
    assert.equal(r.stdout, "", args.join(" "));
  }
});
