/* The DLL's custom entry point and the installation sequence.
 *
 * DLL_PROCESS_ATTACH (loader lock held; possibly on a foreign, short-lived
 * injected thread):
 *   1. our TLS (tls.c) and a pin (GetModuleHandleExW ..._PIN: FreeLibrary
 *      can never unmap the code the jumps point to; without it nothing is
 *      patched);
 *   2. HEAPSHIFT_VERBOSE / HEAPSHIFT_DISABLE / HEAPSHIFT_NO_MIGRATE and
 *      the test-only HEAPSHIFT_TEST_FAULTS (Win32 environment, not the
 *      CRT);
 *   3. the stats block and the counters' TLS slots, the target's CRT entry
 *      points (errno, new-handler, heap handle), then mimalloc
 *      (mi_process_load + mi_process_init), all before a single jump is
 *      written;
 *   4. the patches (patch.c), with the other threads suspended;
 *   5. once the hooks are live, the old heap's trimmer (trim.c).
 * DLL_THREAD_DETACH (whatever the state): mi_thread_done, then the
 * thread's TLS blocks, then its counter stripe (stats.c); counts and
 * allocations on the thread after that (other DLLs' detach code) are
 * released again after each call (hs_thread_late_release).
 * DLL_PROCESS_DETACH: the hooks stay live until the very end and mimalloc
 * is never torn down, so late frees (CRT shutdown, atexit, other DLLs'
 * detach) still land in a working allocator; the other threads are dead by
 * then, so the hooks stop calling into mimalloc (hooks.c, process exit). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "heapshift.h"

static BOOL verbose;
static volatile LONG state = HS_STATE_LOADING;
static HANDLE log_file = INVALID_HANDLE_VALUE;
static char hooked_names[HS_STATS_NAMES_SIZE];

void hs_log(const char* fmt, ...) {
  if (!verbose) return;
  char buf[600];
  int n = snprintf(buf, sizeof buf, "[heapshift %lu:%lu] ",
                   GetCurrentProcessId(), GetCurrentThreadId());
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - n - 2, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  n += m < (int)(sizeof buf - n - 2) ? m : (int)(sizeof buf - n - 3);
  buf[n++] = '\n';
  buf[n] = 0;
  OutputDebugStringA(buf);
  if (log_file != INVALID_HANDLE_VALUE) {
    DWORD written;
    WriteFile(log_file, buf, (DWORD)n, &written, NULL);
  }
}

hs_test_faults hs_faults;

/* HEAPSHIFT_TEST_FAULTS=name[:N],... (test-only, see README). */
static void read_faults(void) {
  wchar_t w[256];
  DWORD n = GetEnvironmentVariableW(L"HEAPSHIFT_TEST_FAULTS", w, 256);
  if (n == 0 || n >= 256) return;
  char s[256];
  for (DWORD i = 0; i <= n; i++) s[i] = (char)w[i];
  for (char* item = s; *item;) {
    char* end = item;
    while (*end && *end != ',') end++;
    char sep = *end;
    *end = 0;
    char* colon = strchr(item, ':');
    unsigned value = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
    if (colon) *colon = 0;
    if (strcmp(item, "busy") == 0) hs_faults.busy = colon ? value : ~0u;
    else if (strcmp(item, "open") == 0) hs_faults.open = TRUE;
    else if (strcmp(item, "context") == 0) hs_faults.context = TRUE;
    else if (strcmp(item, "max-threads") == 0) hs_faults.max_threads = value;
    else if (strcmp(item, "call-in-site") == 0) hs_faults.call_in_site = value;
    else if (strcmp(item, "readback") == 0) hs_faults.readback = TRUE;
    else if (strcmp(item, "readback-sticky") == 0) {
      hs_faults.readback = hs_faults.readback_sticky = TRUE;
    } else if (strcmp(item, "snapshot-rendezvous") == 0) {
      hs_faults.snapshot_rendezvous = TRUE;
    } else if (strcmp(item, "stripes") == 0) hs_faults.stripes = value;
    else if (strcmp(item, "branch-in-site") == 0) {
      hs_faults.branch_in_site = value;
    } else if (strcmp(item, "restore") == 0) hs_faults.restore = TRUE;
    else if (strcmp(item, "protect") == 0) hs_faults.protect = colon ? value : 1;
    else if (strcmp(item, "site-changed") == 0) hs_faults.site_changed = TRUE;
    else if (strcmp(item, "foreign-thread") == 0) {
      hs_faults.foreign_thread = value;
    } else if (strcmp(item, "suspend-refused") == 0) {
      hs_faults.suspend_refused = colon ? value : ~0u;
    } else if (strcmp(item, "retry-sleep") == 0) hs_faults.retry_sleep = value;
    else if (strcmp(item, "trim-optimize") == 0) hs_faults.trim_optimize = TRUE;
    else if (strcmp(item, "trim-walk-only") == 0) {
      hs_faults.trim_walk_only = TRUE;
    } else if (strcmp(item, "live-pause") == 0) hs_faults.live_pause = value;
    else if (strcmp(item, "not-wine") == 0) hs_faults.not_wine = TRUE;
    else if (strcmp(item, "heap-calls") == 0) hs_faults.heap_calls = TRUE;
    else if (strcmp(item, "page-map") == 0) hs_faults.page_map = TRUE;
    else if (strcmp(item, "seg-map") == 0) hs_faults.seg_map = TRUE;
    else if (strcmp(item, "pin") == 0) hs_faults.pin = TRUE;
    else if (strcmp(item, "no-file") == 0) hs_faults.no_file = TRUE;
    else if (strcmp(item, "no-stats") == 0) hs_faults.no_stats = TRUE;
    else if (strcmp(item, "busy-takeovers") == 0) {
      hs_faults.busy_takeovers = value;
    } else if (strcmp(item, "tls-oom") == 0) hs_faults.tls_oom = TRUE;
    else if (strcmp(item, "refuse-site") == 0 && colon &&
               strlen(colon + 1) < sizeof hs_faults.refuse_site) {
      strcpy(hs_faults.refuse_site, colon + 1);
    }
    if (*item) {
      hs_log("test fault: %s%s%s", item, colon ? ":" : "",
             colon ? colon + 1 : "");
    }
    if (!sep) break;
    item = end + 1;
  }
}

BOOL hs_env_flag(const wchar_t* name) {
  wchar_t v[16];
  DWORD n = GetEnvironmentVariableW(name, v, 16);
  return n > 0 && n < 16 && !(v[0] == L'0' && v[1] == 0);
}

/* heapshift-<pid>.log next to the target's executable. */
static void open_log(void) {
  wchar_t path[MAX_PATH + 64];
  DWORD n = GetModuleFileNameW(NULL, path, MAX_PATH);
  if (n == 0 || n >= MAX_PATH) return;
  while (n > 0 && path[n - 1] != L'\\' && path[n - 1] != L'/') n--;
  _snwprintf(path + n, 64, L"heapshift-%lu.log", GetCurrentProcessId());
  path[MAX_PATH + 63] = 0;
  log_file = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE,
                         NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
}

/* The reason given with the state (HS_R_*): why a takeover failed. */
static uint32_t last_reason;

static void set_state(LONG s, uint32_t reason, DWORD error) {
  hs_stats_set_state((enum hs_state)s, reason, error);
  last_reason = reason;
  InterlockedExchange(&state, s);
}

/* Lowest committed address of this thread's stack (NT_TIB.StackLimit). */
static uintptr_t stack_limit(void) {
  return (uintptr_t)((NT_TIB*)NtCurrentTeb())->StackLimit;
}

static void take_over(void);

/* Whether the DLL pinned itself, and else why not (pin_self). */
static BOOL pin;
static DWORD pin_error;

/* First thing at load, so that every way out leaves the DLL pinned (a
 * failed one stays loaded, idle; an unload would run none of a static
 * CRT's detach, whose thread callbacks would then point into unmapped
 * code). */
static void pin_self(HINSTANCE inst) {
  HMODULE pinned;
  pin = GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_PIN |
                               GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                           (LPCWSTR)(void*)inst, &pinned);
  pin_error = pin ? 0 : GetLastError();
}

static void install(void) {
  verbose = hs_env_flag(L"HEAPSHIFT_VERBOSE");
  if (verbose) open_log();
  hs_log("loading (version %d.%d.%d, mimalloc %u)", HEAPSHIFT_VERSION_MAJOR,
         HEAPSHIFT_VERSION_MINOR, HEAPSHIFT_VERSION_PATCH, hs_mi_version());
  read_faults();
  if (!hs_stats_open()) {
    hs_log("another heapshift DLL already owns this process: not hooking");
    InterlockedExchange(&state, HS_STATE_FAILED);
    return;
  }
  /* The jumps will point into this image: no FreeLibrary may unmap it. */
  if (!pin || hs_faults.pin) {
    hs_log("the DLL could not pin itself in memory: not hooking");
    set_state(HS_STATE_FAILED, HS_R_PIN, pin_error);
    return;
  }
  if (!hs_count_init()) {
    hs_log("no TLS index left for the counters: not hooking");
    set_state(HS_STATE_FAILED, HS_R_TLS, GetLastError());
    hs_count_release();
    return;
  }
  if (!hs_crt_resolve()) {
    hs_log("ucrtbase.dll is not loaded or lacks heap exports: not hooking");
    set_state(HS_STATE_FAILED, HS_R_NO_UCRT, 0);
    hs_count_release();
    return;
  }
  hs_log("ucrtbase at %p, CRT heap %p, old aligned layout: %s",
         (void*)hs_target.ucrtbase, hs_target.heap,
         hs_target.old_aligned_wine_layout ? "Wine" : "UCRT");
  if (hs_env_flag(L"HEAPSHIFT_DISABLE")) {
    hs_log("HEAPSHIFT_DISABLE is set: loaded without patching");
    set_state(HS_STATE_DISABLED, 0, 0);
    hs_count_release();
    return;
  }
  hs_no_migrate = hs_env_flag(L"HEAPSHIFT_NO_MIGRATE");
  if (hs_no_migrate) {
    hs_log("HEAPSHIFT_NO_MIGRATE is set: old blocks are resized on the old "
           "heap, never moved into mimalloc");
  }
  unsigned refused = hs_mi_load();
  if (refused != HS_R_NONE) {
    DWORD err = GetLastError();
    hs_log(refused == HS_R_TLS ? "no TLS index left for mimalloc: not hooking"
           : err != 0 ? "mimalloc's page map could not be committed: not hooking"
                      : "mimalloc's page map was set up for another address "
                        "range (MIMALLOC_MAX_VABITS?): not hooking");
    set_state(HS_STATE_FAILED, refused, err);
    hs_count_release();
    return;
  }
  hs_log("mimalloc initialised");
  take_over();
}

/* The patches, and what follows once they are in; state FAILED (with the
 * reason) when they did not go in. With the loader lock held: in DllMain,
 * or taken by heapshift_retry. */
static void take_over(void) {
  static hs_patch_result r;
  hs_trim_arm();
  if (!hs_patch_all(&r)) {
    /* restore: a page's protection could not be put back (STATS.md) */
    hs_log("patching failed: %s (reason %u, Win32 error %lu); %s", r.error,
           r.reason, r.win32_error,
           r.reason == HS_R_RESTORE
               ? "no code was changed, but a page may have stayed writable"
               : "nothing was changed");
    set_state(HS_STATE_FAILED, r.reason, r.win32_error);
    return;
  }
  if (hs_faults.live_pause) Sleep(hs_faults.live_pause);
  if (r.reason != HS_R_NONE) {
    hs_log("hooks live, but: %s (reason %u, Win32 error %lu)", r.error,
           r.reason, r.win32_error);
  }
  size_t used = 0;
  for (unsigned i = 0; i < r.names; i++) {
    size_t n = strlen(r.names_list[i]) + 1;
    if (used + n + 1 > sizeof hooked_names) break;
    memcpy(hooked_names + used, r.names_list[i], n);
    used += n;
  }
  hs_stats_set_names(r.names_list, r.names);
  hs_stats_mark_live(r.sites, r.reason, r.win32_error);
  last_reason = r.reason;
  InterlockedExchange(&state, HS_STATE_LIVE);
  hs_log("hooks live: %u names over %u code sites", r.names, r.sites);
  hs_trim_start(); /* trim.c: the old heap's free pages, from a thread */
}

/* HEAPSHIFT_VERBOSE=1: paints the unused stack below us, installs, and
 * logs how deep the installation went (the injected-thread case runs on a
 * foreign thread's stack). */
static HS_NOINLINE void install_measuring_stack(void) {
  volatile uint8_t here = 0;
  uintptr_t sp = (uintptr_t)&here - 4096;
  uintptr_t lo = stack_limit() + 4096;
  if (sp > lo + 65536) memset((void*)lo, 0xA5, sp - lo);
  install();
  uintptr_t deepest = lo;
  while (deepest < sp && *(volatile uint8_t*)deepest == 0xA5) deepest++;
  hs_log("installation used %u KB of stack (%u KB were available below it)",
         (unsigned)(((uintptr_t)&here - deepest) / 1024),
         (unsigned)(((uintptr_t)&here - lo) / 1024));
}

/* The thread's mimalloc heap (abandoned to other threads) and TLS blocks;
 * the thread is marked as past our DLL_THREAD_DETACH. */
static void release_thread(void) {
  if (hs_mi_thread_active()) hs_mi_thread_done();
  hs_tls_thread_done();
}

/* DLLs loaded before heapshift get DLL_THREAD_DETACH after ours (the loader
 * goes in reverse load order), and their detach code may allocate: the
 * hooked call sets up a mimalloc heap and TLS blocks for the thread again,
 * which nothing would release before the thread is gone. */
void hs_thread_late_release(void) {
  if (hs_mi_thread_active() || hs_tls_thread_active()) release_thread();
}

#if defined(_MSC_VER) && !defined(__clang__)
/* MSVC /MT: the static CRT still needs its own initialisation. */
BOOL WINAPI _DllMainCRTStartup(HANDLE, DWORD, LPVOID);
BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved) {
  (void)inst;
  (void)reason;
  (void)reserved;
  return TRUE;
}
#define CRT_STARTUP(i, r, x) _DllMainCRTStartup(i, r, x)
#else
#define CRT_STARTUP(i, r, x) ((void)0)
#endif

BOOL WINAPI heapshift_entry(HINSTANCE inst, DWORD reason, LPVOID reserved);
BOOL WINAPI heapshift_entry(HINSTANCE inst, DWORD reason, LPVOID reserved) {
  switch (reason) {
    case DLL_PROCESS_ATTACH:
      CRT_STARTUP(inst, reason, reserved);
      hs_loaded_at_start = reserved != NULL;
      /* On the injector's own thread (never a program's, whose stack may
       * hold more than its frames): before the hooks go live and the
       * program's allocations add to its working set. */
      if (hs_injector_loading()) hs_injector_stack_release();
      pin_self(inst);
      if (!hs_tls_process_init()) {
        /* Said in the stats block, as every other refusal: without one
         * the injector can only say the state cannot be read. */
        DWORD err = GetLastError();
        if (!hs_stats_open()) InterlockedExchange(&state, HS_STATE_FAILED);
        else if (!pin) set_state(HS_STATE_FAILED, HS_R_PIN, pin_error);
        else set_state(HS_STATE_FAILED, HS_R_TLS, err);
        return TRUE;
      }
      if (hs_env_flag(L"HEAPSHIFT_VERBOSE")) {
        install_measuring_stack();
      } else {
        install();
      }
      break;
    case DLL_THREAD_ATTACH:
      CRT_STARTUP(inst, reason, reserved);
      break;
    case DLL_THREAD_DETACH:
      /* Whatever the state says: a thread with mimalloc state has it
       * released (hooks may be live even after a reported problem). */
      release_thread();
      hs_count_thread_done();
      CRT_STARTUP(inst, reason, reserved);
      break;
    case DLL_PROCESS_DETACH:
      /* Pinned: only process exit gets here. Leave everything standing,
       * but the other threads are dead: no more calls into mimalloc. */
      hs_process_detach();
      break;
  }
  return TRUE;
}

/* ---- exports ------------------------------------------------------------ */

/* Harmless import target for the PE import patcher. Returns the version. */
__declspec(dllexport) int heapshift_anchor(void) { return HEAPSHIFT_VERSION; }

/* 0 loading, 1 live, 2 disabled, 3 failed. */
__declspec(dllexport) int heapshift_state(void) { return (int)state; }

/* The hooked export names, NUL-separated, ended by an empty name. */
__declspec(dllexport) const char* heapshift_hooked_names(void) {
  return hooked_names;
}

/* Called by heapshift's injector on a remote thread of its own right after
 * a mid-run load (the one that ran LoadLibraryW, once it has returned):
 * asks for the atexit entry (hooks.c, "process exit") from
 * a thread that no program code waits for, so that waiting for an exit()
 * in progress hangs nothing. 1 if it asked now, 0 if there was nothing to
 * ask (see hs_arm_exit_watch). cdecl with one ignored argument: the
 * injector's stub restores the stack after the call, and a direct thread
 * start (a target forbidding dynamic code, which heapshift cannot patch
 * anyway) never returns to its caller's frame. */
__declspec(dllexport) int heapshift_arm_exit_watch(void* unused) {
  (void)unused;
  int asked = state == HS_STATE_LIVE ? hs_arm_exit_watch() : 0;
  hs_injector_stack_release(); /* the thread's last call into the DLL */
  return asked;
}

/* Reasons a takeover may fail for only a moment: a thread inside a site,
 * threads that could not all be listed, opened, paused or read. Nothing
 * was changed, and everything the patches need was set up. */
static BOOL may_pass(uint32_t reason) {
  switch (reason) {
    case HS_R_THREAD_IN_SITE:
    case HS_R_THREAD_OPEN:
    case HS_R_THREAD_SUSPEND:
    case HS_R_THREAD_CONTEXT:
    case HS_R_TOO_MANY_THREADS:
    case HS_R_THREAD_SNAPSHOT:
      return TRUE;
    default:
      return FALSE;
  }
}

/* Called by heapshift's injector on a remote thread when the DLL is loaded
 * already and its takeover failed for a reason that may pass (may_pass):
 * tries the patches once more and, once live, asks for the exit watch's
 * atexit entry as heapshift_arm_exit_watch does. The loader lock is taken
 * for the patches as DllMain had it: a thread created meanwhile then waits
 * in its start-up for the lock rather than run code the patches change.
 * Unlike DllMain's thread, this one does not own a load: nothing in
 * take_over may load a DLL (Windows' loader would wait for the load's
 * owner, which may wait for the lock held here); nothing does.
 * Returns the state (heapshift_state). cdecl with one ignored argument, as
 * heapshift_arm_exit_watch. */
static int retry(void);
__declspec(dllexport) int heapshift_retry(void* unused) {
  (void)unused;
  int s = retry();
  hs_injector_stack_release(); /* the thread's last call into the DLL */
  return s;
}

static int retry(void) {
  if (state != HS_STATE_FAILED || !may_pass(last_reason)) return (int)state;
  typedef LONG(NTAPI * lock_fn)(ULONG, ULONG*, ULONG_PTR*);
  typedef LONG(NTAPI * unlock_fn)(ULONG, ULONG_PTR);
  FARPROC l = hs_ntdll_fn("LdrLockLoaderLock");
  FARPROC u = hs_ntdll_fn("LdrUnlockLoaderLock");
  lock_fn lock;
  unlock_fn unlock;
  memcpy(&lock, &l, sizeof l);
  memcpy(&unlock, &u, sizeof u);
  ULONG disposition = 0;
  ULONG_PTR cookie = 0;
  if (lock == NULL || unlock == NULL || lock(0, &disposition, &cookie) < 0) {
    return (int)state;
  }
  /* one retry at a time (another may have failed for good meanwhile); the
   * hooks are not live, nothing else moves the state */
  if (may_pass(last_reason) &&
      InterlockedCompareExchange(&state, HS_STATE_LOADING, HS_STATE_FAILED) ==
          HS_STATE_FAILED) {
    hs_stats_set_state(HS_STATE_LOADING, 0, 0);
    hs_log("retrying the takeover");
    take_over();
  }
  unlock(0, cookie);
  if (state == HS_STATE_LIVE) hs_arm_exit_watch();
  return (int)state;
}

/* Whether mimalloc owns p (for tests and diagnostics). */
__declspec(dllexport) int heapshift_owns(const void* p) {
  return p != NULL && hs_mi_owns(p);
}
