/* What mimalloc would import from advapi32.dll, without advapi32 (see
 * advapi.h): random bytes from the CPU, the privilege calls from ntdll.
 * These run during mimalloc's initialisation, inside our
 * DLL_PROCESS_ATTACH: no other module is loaded or called there, since a
 * module the program loaded may not be initialised yet, and loading one
 * would run its DllMain under the loader lock. */
#include "advapi.h"
#include "heapshift.h"

#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#include <immintrin.h>
#endif

static BOOL not_supported(void) {
  SetLastError(ERROR_NOT_SUPPORTED);
  return FALSE;
}

/* ---- random bytes ------------------------------------------------------- */

#if defined(_MSC_VER) && !defined(__clang__)
static BOOL cpu_has_rdrand(void) {
  int r[4];
  __cpuid(r, 1);
  return (r[2] >> 30) & 1;
}
#define RDRAND_TARGET
#else
static BOOL cpu_has_rdrand(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_RDRND) != 0;
}
#define RDRAND_TARGET __attribute__((target("rdrnd")))
#endif

/* One word from RDRAND, retried as Intel advises (it may briefly run dry). */
static RDRAND_TARGET BOOL rdrand_word(uintptr_t* out) {
  for (int i = 0; i < 10; i++) {
#if defined(_WIN64)
    unsigned long long v;
    if (_rdrand64_step(&v)) {
      *out = (uintptr_t)v;
      return TRUE;
    }
#else
    unsigned int v;
    if (_rdrand32_step(&v)) {
      *out = (uintptr_t)v;
      return TRUE;
    }
#endif
  }
  return FALSE;
}

static BOOL rdrand_fill(uint8_t* buffer, ULONG length) {
  if (!cpu_has_rdrand()) return FALSE;
  for (ULONG at = 0; at < length; at += sizeof(uintptr_t)) {
    uintptr_t word;
    if (!rdrand_word(&word)) return FALSE;
    ULONG n = length - at < sizeof word ? length - at : sizeof word;
    memcpy(buffer + at, &word, n);
  }
  return TRUE;
}

/* No system source: they are all other modules' code, and mimalloc asks
 * inside our DllMain (with mimalloc 2, also in each thread's first
 * allocation). Loaded with the program, heapshift's DllMain runs before
 * the program's own advapi32, cryptbase and bcrypt are initialised, even
 * though GetModuleHandle finds them mapped: Windows' bcryptprimitives
 * faults when called then (mimalloc #623, #1185), and BCryptGenRandom can
 * load its provider under the loader lock. The seed needs no more than the
 * CPU gives: mimalloc's keys here guard against nothing an attacker
 * controls (its secure mode is not built). */
BOOLEAN NTAPI hs_advapi_random(PVOID buffer, ULONG length) {
  return (BOOLEAN)rdrand_fill(buffer, length);
}

/* ---- large-page privileges ----------------------------------------------
 * mimalloc enables SeLockMemoryPrivilege (only with MIMALLOC_LARGE_OS_PAGES
 * or MIMALLOC_RESERVE_HUGE_OS_PAGES) through advapi32's token calls, inside
 * our DllMain. advapi32 goes on to sechost and an LSA lookup: modules that
 * may not be initialised yet when heapshift loads with the program, and
 * calls that do not belong under the loader lock. ntdll, initialised
 * before any other module, does the same with no lookup: the privilege's
 * LUID is a constant. */

#define STATUS_NOT_ALL_ASSIGNED 0x00000106L

/* A Win32 result from an NTSTATUS, as kernelbase makes it: an error below
 * 0; STATUS_NOT_ALL_ASSIGNED succeeds with ERROR_NOT_ALL_ASSIGNED. */
static BOOL nt_result(LONG status) {
  if (status >= 0) {
    SetLastError(status == STATUS_NOT_ALL_ASSIGNED ? ERROR_NOT_ALL_ASSIGNED
                                                   : ERROR_SUCCESS);
    return TRUE;
  }
  ULONG(NTAPI * to_error)(LONG);
  FARPROC f = hs_ntdll_fn("RtlNtStatusToDosError");
  DWORD error = ERROR_NOT_SUPPORTED;
  if (f != NULL) {
    memcpy(&to_error, &f, sizeof f);
    error = to_error(status);
  }
  SetLastError(error);
  return FALSE;
}

BOOL WINAPI hs_advapi_open_process_token(HANDLE process, DWORD access,
                                         PHANDLE token) {
  LONG(NTAPI * open)(HANDLE, ACCESS_MASK, PHANDLE);
  FARPROC f = hs_ntdll_fn("NtOpenProcessToken");
  if (f == NULL) return not_supported();
  memcpy(&open, &f, sizeof f);
  return nt_result(open(process, access, token));
}

BOOL WINAPI hs_advapi_lookup_privilege_value(LPCSTR system, LPCSTR name,
                                             PLUID luid) {
  /* the one mimalloc asks for (winnt.h: SE_LOCK_MEMORY_PRIVILEGE), by
   * that name (no _stricmp: the program's locale, inside DllMain) */
  if (system == NULL && name != NULL &&
      strcmp(name, "SeLockMemoryPrivilege") == 0) {
    luid->LowPart = 4;
    luid->HighPart = 0;
    return TRUE;
  }
  SetLastError(ERROR_NO_SUCH_PRIVILEGE);
  return FALSE;
}

BOOL WINAPI hs_advapi_adjust_token_privileges(HANDLE token, BOOL disable_all,
                                              PTOKEN_PRIVILEGES state,
                                              DWORD length,
                                              PTOKEN_PRIVILEGES previous,
                                              PDWORD returned) {
  LONG(NTAPI * adjust)
  (HANDLE, BOOLEAN, PTOKEN_PRIVILEGES, ULONG, PTOKEN_PRIVILEGES, PULONG);
  FARPROC f = hs_ntdll_fn("NtAdjustPrivilegesToken");
  if (f == NULL) return not_supported();
  memcpy(&adjust, &f, sizeof f);
  return nt_result(
      adjust(token, (BOOLEAN)(disable_all != 0), state, length, previous,
             returned));
}
