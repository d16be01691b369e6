/**
 * The architectures heapshift takes over: x64, and x86 (32-bit programs,
 * which 64-bit Windows runs under WOW64), reached from the same 64-bit
 * Deno.
 *
 * @module
 */

/**
 * A target's architecture: `x64` or `x86` (32-bit).
 *
 * @example Pick a DLL for a process
 * ```ts
 * import { type Arch, processArch } from "@heapshift/heapshift";
 * const arch: Arch = processArch(1234);
 * const dll = arch === "x86" ? "build/heapshift32.dll" : "build/heapshift.dll";
 * ```
 */
export type Arch = "x64" | "x86";

/** The IMAGE_FILE_MACHINE_* value of each architecture. */
export const ARCH_MACHINE: Readonly<Record<Arch, number>> = {
  x64: 0x8664,
  x86: 0x014c,
};

/** The architecture of an IMAGE_FILE_MACHINE_* value, if supported. */
export function archOf(machine: number): Arch | undefined {
  return machine === ARCH_MACHINE.x64
    ? "x64"
    : machine === ARCH_MACHINE.x86
    ? "x86"
    : undefined;
}

/** `64-bit (x64)` or `32-bit (x86)`, for messages. */
export function archName(arch: Arch): string {
  return machineName(ARCH_MACHINE[arch]);
}

/** `a 32-bit (x86)`, `an ARM64`: a machine's name with its article. */
export function aMachine(machine: number): string {
  const name = machineName(machine);
  return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
}

/** Human name of an IMAGE_FILE_MACHINE_* value. */
export function machineName(machine: number): string {
  switch (machine) {
    case ARCH_MACHINE.x86:
      return "32-bit (x86)";
    case ARCH_MACHINE.x64:
      return "64-bit (x64)";
    case 0xaa64:
      return "ARM64";
    default:
      return `machine 0x${machine.toString(16)}`;
  }
}
