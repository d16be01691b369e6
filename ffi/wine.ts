/**
 * Whether this process runs under Wine, and which: ntdll's Wine-only
 * exports, found through kernel32 (no other library is opened).
 *
 * @module
 */

import { ntdllExport } from "./ntdll.ts";

/** The Wine this process runs under. */
export interface WineInfo {
  /** `wine_get_version()`, e.g. `10.0`. */
  version: string;
  /** `wine_get_host_version()`: the host system and release, if known. */
  host?: string;
}

function cString(p: Deno.PointerValue): string | undefined {
  return p ? Deno.UnsafePointerView.getCString(p) : undefined;
}

/** Wine's version and host, or `null` on real Windows (or off Windows). */
export function wineInfo(): WineInfo | null {
  if (Deno.build.os !== "windows") return null;
  const getVersion = ntdllExport("wine_get_version");
  if (getVersion === 0n) return null;
  const version = cString(
    new Deno.UnsafeFnPointer(Deno.UnsafePointer.create(getVersion)!, {
      parameters: [],
      result: "pointer",
    }).call(),
  ) ?? "unknown";
  const getHost = ntdllExport("wine_get_host_version");
  if (getHost === 0n) return { version };
  const sys = new BigUint64Array(1), rel = new BigUint64Array(1);
  new Deno.UnsafeFnPointer(Deno.UnsafePointer.create(getHost)!, {
    parameters: ["buffer", "buffer"],
    result: "void",
  }).call(sys, rel);
  const at = (a: BigUint64Array) => cString(Deno.UnsafePointer.create(a[0]));
  const host = [at(sys), at(rel)].filter(Boolean).join(" ");
  return host ? { version, host } : { version };
}
