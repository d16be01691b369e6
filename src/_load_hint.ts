/**
 * What a loader's refusal of a DLL means beyond the system's message, for
 * the refusals whose cause the error code alone tells.
 *
 * @module
 */

import type { Arch } from "./arch.ts";
import { ERROR } from "../ffi/mod.ts";

/**
 * Why Windows refused `dll` (a name, e.g. `heapshift.dll`) for its
 * signature, and what can be done: the system's own message for that error
 * blames a damaged or malicious file.
 */
export function signaturePolicy(dll: string): string {
  // Smart App Control admits a DLL signed with a certificate of Microsoft's
  // root program, or one its cloud knows; App Control, the signers its
  // policy names: not Microsoft's alone, and in every program.
  return `a code integrity policy admits into this program only DLLs with a signature it trusts, which ${dll} has not, so heapshift cannot be loaded into it: either the program's own (DLLs signed by Microsoft only, as browsers and anti-cheat software set, or Exploit protection's "Code integrity guard" for it), which is lifted for the program where it is yours to change; or Smart App Control or an App Control policy, which applies in every program and admits DLLs signed with a certificate Windows trusts (or, for Smart App Control, known to Microsoft's cloud), so heapshift runs there only with that policy off or ${dll} signed so`;
}

/**
 * The hint a load that failed in a target with Win32 error `error` adds
 * to the loader's message ("" if none): `dll` is the DLL's file name,
 * `arch` its architecture (checked against the target's already).
 */
export function loadHint(
  error: number,
  { dll, arch }: { dll: string; arch: Arch },
): string {
  if (error === ERROR.BAD_EXE_FORMAT) {
    // The DLL's own architecture was checked: what the loader refused is
    // a dependency (Windows takes the first file of that name it finds;
    // Wine skips one of another architecture), or a damaged file.
    return `; ${dll} is ${arch}: a DLL it needs was found as a file of another architecture before the right one, or one of them is damaged`;
  }
  if (error === ERROR.INVALID_IMAGE_HASH) return `; ${signaturePolicy(dll)}`;
  return "";
}
