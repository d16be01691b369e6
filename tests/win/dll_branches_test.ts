// Branches into the bytes a jump overwrites (tests/fixtures/dll_branches.c):
// a loop back into a function's first bytes (rel8) or a far chunk's jump
// into them (rel32) makes the installer take a shorter jump that stays
// clear of it, or refuse the function; x86 hot-patchable functions change
// only 2 bytes of their own, and are refused when a jump lands in their
// padding. heapshift_plan_site (test-only) plans real code with the
// installer's own decoder and scans.
import { type Arch, hookDll, testArches } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

/** Bytes the jump would write from each entry on; 0: refused. */
const PLANS: Record<Arch, Record<string, number>> = {
  x64: {
    "plan.f_plain": 14,
    "plan.f_loop2": 0,
    "plan.f_loop13": 12,
    "plan.f_cold": 0,
    "plan.f_xfg": 14,
    "plan.f_unflagged": 0,
  },
  x86: {
    "plan.f_plain": 5,
    "plan.f_loop2": 0,
    "plan.f_cold": 0,
    "plan.f_hot2": 2,
    "plan.f_hot1": 0,
    "plan.f_hotcold": 5,
  },
};

testArches(
  "sites: a branch into a jump's bytes picks a shorter jump or refuses the function",
  async (arch) => {
    assertValues(
      await runValues("dll_branches.exe", [hookDll(arch)], { arch }),
      PLANS[arch],
    );
  },
);
