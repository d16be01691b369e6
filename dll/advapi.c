/* What mimalloc would import from advapi32.dll, without the import (see
 * advapi.h): the privilege calls go to the real functions when the program
 * has advapi32 loaded already; random bytes come from the CPU alone.
 * Nothing is ever loaded here: these run during mimalloc's initialisation,
 * inside our DLL_PROCESS_ATTACH, where loading a DLL would run its DllMain
 * under the loader lock. */
#include "advapi.h"

#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#include <immintrin.h>
#endif

/* The forwarder string of export `name` of the mapped module `m`
 * ("CRYPTBASE.SystemFunction036"), or NULL when it is exported in `m`
 * itself or not at all. */
static const char* forwarder(HMODULE m, const char* name) {
  const uint8_t* base = (const uint8_t*)m;
  const IMAGE_DOS_HEADER* dos = (const IMAGE_DOS_HEADER*)base;
  const IMAGE_NT_HEADERS* nt =
      (const IMAGE_NT_HEADERS*)(base + dos->e_lfanew);
  const IMAGE_DATA_DIRECTORY* d =
      &nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXPORT];
  if (nt->OptionalHeader.NumberOfRvaAndSizes <= IMAGE_DIRECTORY_ENTRY_EXPORT ||
      d->VirtualAddress == 0) {
    return NULL;
  }
  const IMAGE_EXPORT_DIRECTORY* e =
      (const IMAGE_EXPORT_DIRECTORY*)(base + d->VirtualAddress);
  const DWORD* names = (const DWORD*)(base + e->AddressOfNames);
  const WORD* ordinals = (const WORD*)(base + e->AddressOfNameOrdinals);
  const DWORD* functions = (const DWORD*)(base + e->AddressOfFunctions);
  for (DWORD i = 0; i < e->NumberOfNames; i++) {
    if (strcmp((const char*)(base + names[i]), name) != 0) continue;
    DWORD rva = functions[ordinals[i]];
    /* an RVA inside the export directory is a forwarder string */
    return rva >= d->VirtualAddress && rva < d->VirtualAddress + d->Size
               ? (const char*)(base + rva)
               : NULL;
  }
  return NULL;
}

/* `name` from `module` if the program loaded that module, else NULL. An
 * export forwarded to another module is followed only into one that is
 * loaded already: GetProcAddress would load it (and its imports), inside
 * our DllMain at install (Windows' advapi32 forwards many exports to
 * kernelbase, sechost and cryptbase). The last-error value is the
 * program's: a module that is not there sets ERROR_MOD_NOT_FOUND. */
static FARPROC loaded(const wchar_t* module, const char* name) {
  DWORD err = GetLastError();
  HMODULE m = GetModuleHandleW(module);
  char fname[128];
  for (int hops = 0; m != NULL && hops < 4; hops++) {
    const char* fw = forwarder(m, name);
    if (fw == NULL) break;
    /* "MODULE.name": MODULE.dll must be loaded; by ordinal: not followed */
    const char* dot = strrchr(fw, '.');
    size_t len = dot != NULL ? (size_t)(dot - fw) : 0;
    if (len == 0 || len + 5 > 64 || dot[1] == '#' ||
        strlen(dot + 1) >= sizeof fname) {
      m = NULL;
      break;
    }
    wchar_t wmod[64];
    for (size_t k = 0; k < len; k++) wmod[k] = (wchar_t)(uint8_t)fw[k];
    memcpy(wmod + len, L".dll", 5 * sizeof(wchar_t));
    strcpy(fname, dot + 1);
    name = fname;
    m = GetModuleHandleW(wmod);
  }
  FARPROC f = m ? GetProcAddress(m, name) : NULL;
  SetLastError(err);
  return f;
}

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

/* ---- large-page privileges ---------------------------------------------- */

/* The body of a forwarder: advapi32's `name` called with `args`, as type
 * `fn`, or FALSE with ERROR_NOT_SUPPORTED when advapi32 is not loaded. */
#define FORWARD(fn, name, args)                          \
  FARPROC f = loaded(L"advapi32.dll", name);             \
  if (f == NULL) return not_supported();                 \
  fn call;                                               \
  memcpy(&call, &f, sizeof f);                           \
  return call args

typedef BOOL(WINAPI* open_token_fn)(HANDLE, DWORD, PHANDLE);
typedef BOOL(WINAPI* lookup_fn)(LPCSTR, LPCSTR, PLUID);
typedef BOOL(WINAPI* adjust_fn)(HANDLE, BOOL, PTOKEN_PRIVILEGES, DWORD,
                                PTOKEN_PRIVILEGES, PDWORD);

BOOL WINAPI hs_advapi_open_process_token(HANDLE process, DWORD access,
                                         PHANDLE token) {
  FORWARD(open_token_fn, "OpenProcessToken", (process, access, token));
}

BOOL WINAPI hs_advapi_lookup_privilege_value(LPCSTR system, LPCSTR name,
                                             PLUID luid) {
  FORWARD(lookup_fn, "LookupPrivilegeValueA", (system, name, luid));
}

BOOL WINAPI hs_advapi_adjust_token_privileges(HANDLE token, BOOL disable_all,
                                              PTOKEN_PRIVILEGES state,
                                              DWORD length,
                                              PTOKEN_PRIVILEGES previous,
                                              PDWORD returned) {
  FORWARD(adjust_fn, "AdjustTokenPrivileges",
          (token, disable_all, state, length, previous, returned));
}
