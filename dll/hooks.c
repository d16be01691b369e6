/* The replacement functions: exact UCRT semantics (see the UCRT sources'
 * heap/ and align.cpp), mimalloc underneath.
 *
 * Ownership decides everything: a pointer mimalloc owns (O(1) check) is
 * mimalloc's; anything else is an old block from before the takeover and
 * is handled with the Win32 heap API on `_get_heap_handle()` (never
 * through the hooked CRT functions, nor a trampoline to their original
 * code). The realloc family migrates old blocks into mimalloc (allocate,
 * copy, free old), or, with HEAPSHIFT_NO_MIGRATE=1, resizes them on the
 * old heap (UCRT's own HeapReAlloc route), so they never reach mimalloc.
 *
 * Compiled as part of mimalloc_unit.c (#included at its end), so the
 * mimalloc fast paths and the ownership check inline into the hooks.
 *
 * errno, the new-handler and the invalid-parameter handler are the
 * target's (resolved from its ucrtbase), never a private CRT's. */
#include <errno.h>

#include "heapshift.h"

hs_crt hs_target;
BOOL hs_no_migrate;

/* HS_HEAP_MAXREQ (_HEAP_MAXREQ) is the architecture's: heapshift.h. */
#define PTR_SZ sizeof(uintptr_t)
/* align.cpp's test: 0 is not a power of two. */
#define IS_2_POW_N(x) ((x) != 0 && ((x) & ((x)-1)) == 0)

static void watch_exit(HMODULE ucrt);

/* A block's bytes are copied and zeroed as mimalloc's own realloc and
 * calloc do (_mi_memcpy, _mi_memzero: `rep movsb`/`stosb` where the CPU
 * makes short ones fast, else the CRT's memcpy): every call to Wine's
 * memcpy, an SSE2 routine with an alignment prologue, cost a small realloc
 * more than its copy (churn: 5% of the samples, against under 1% linked). */
#define copy_bytes(dst, src, n) _mi_memcpy((dst), (src), (n))
#define zero_bytes(dst, n) _mi_memzero((dst), (n))

/* ---- old-heap blocks: the Win32 heap API on _get_heap_handle() ---------- */

/* HeapSize, (size_t)-1 on error. */
static size_t hs_old_size(void* p) {
  return HeapSize(hs_target.heap, hs_target.old_size_flags, p);
}

static BOOL hs_old_free(void* p) { return HeapFree(hs_target.heap, 0, p); }

/* HeapReAlloc in place (shrinking or growing), or NULL. */
static void* hs_old_resize_in_place(void* p, size_t n) {
  return HeapReAlloc(hs_target.heap, HEAP_REALLOC_IN_PLACE_ONLY, p, n);
}

/* HEAPSHIFT_NO_MIGRATE: old blocks stay on the old heap for good. */
static void* hs_old_alloc(size_t n) { return HeapAlloc(hs_target.heap, 0, n); }

/* HeapReAlloc, may move (HEAPSHIFT_NO_MIGRATE). */
static void* hs_old_realloc(void* p, size_t n) {
  return HeapReAlloc(hs_target.heap, 0, p, n);
}

/* The raw block pointer of a UCRT `_aligned_*` block, new or old: the
 * pointer-sized word below the block rounded down to a pointer's
 * alignment. Old aligned blocks keep their alignment and offset when they
 * move (the `_aligned_*` section below). */
static inline void* hs_aligned_raw(void* p) {
  const uintptr_t w = sizeof(uintptr_t);
  return *(void**)((((uintptr_t)p) & ~(w - 1)) - w);
}

/* Wine 10.x's HeapSize finds the block without the heap's lock (a critical
 * section) and takes the lock only to read the block's header, which for a
 * busy block of the caller's nothing else changes (a neighbour's free
 * rewrites its size with the same value). Skipping the lock spares the
 * threads that free old blocks at the same time a queue on it: Wine's
 * HeapFree of a low-fragmentation block takes none (mt-churn at 64 threads,
 * injected late: bench/README). Not for a heap created with HEAP_VALIDATE,
 * whose pointer check walks the heap's lists under that lock; not for a
 * Wine whose heap.c was not read (other majors); never on Windows, whose
 * HeapSize decodes the header under the lock a neighbour's free rewrites it
 * under. */
#define HEAP_VALIDATE_ON_CREATE 0x10000000u
static DWORD old_size_flags(HANDLE heap) {
  const char* v = hs_wine_version();
  uint32_t flags;
  if (v == NULL || strncmp(v, "10.", 3) != 0 ||
      !hs_nt_heap_flags(heap, &flags) ||
      (flags & HEAP_VALIDATE_ON_CREATE) != 0) {
    return 0;
  }
  return HEAP_NO_SERIALIZE;
}

BOOL hs_crt_resolve(void) {
  HMODULE m = GetModuleHandleW(L"ucrtbase.dll");
  if (m == NULL) return FALSE;
  hs_target.ucrtbase = m;
#define RESOLVE(field, name)                  \
  {                                           \
    FARPROC f = GetProcAddress(m, name);      \
    if (f == NULL) return FALSE;              \
    memcpy(&hs_target.field, &f, sizeof f);   \
  }
  RESOLVE(errno_fn, "_errno");
  RESOLVE(invalid_parameter_noinfo, "_invalid_parameter_noinfo");
  RESOLVE(query_new_mode, "_query_new_mode");
  RESOLVE(callnewh, "_callnewh");
#undef RESOLVE
  intptr_t(__cdecl * get_heap)(void);
  FARPROC f = GetProcAddress(m, "_get_heap_handle");
  if (f == NULL) return FALSE;
  memcpy(&get_heap, &f, sizeof f);
  hs_target.heap = (HANDLE)get_heap();
  if (hs_target.heap == NULL) return FALSE;
  hs_target.old_size_flags = old_size_flags(hs_target.heap);

  /* The layout of old aligned blocks: Microsoft's ucrtbase has UCRT's, and
   * never gets called here (another allocator may have redirected its
   * _aligned_malloc already, and HeapSize on that block would end the
   * process on Windows). Wine's builtin one, which marks itself after the
   * DOS header, is probed: its original _aligned_malloc, not yet hooked by
   * us, nor by another tool (then the installation fails as foreign-hook). */
  void*(__cdecl * amalloc)(size_t, size_t);
  void(__cdecl * afree)(void*);
  FARPROC fm = GetProcAddress(m, "_aligned_malloc");
  FARPROC ff = GetProcAddress(m, "_aligned_free");
  static const char wine_builtin[] = "Wine builtin DLL";
  BOOL wine_ucrt = memcmp((const char*)m + sizeof(IMAGE_DOS_HEADER),
                          wine_builtin, sizeof wine_builtin - 1) == 0;
  static const char* const probed[] = {"_aligned_malloc", "_aligned_free",
                                       "malloc", "free", NULL};
  if (wine_ucrt && fm != NULL && ff != NULL &&
      hs_patch_exports_untouched(probed)) {
    memcpy(&amalloc, &fm, sizeof fm);
    memcpy(&afree, &ff, sizeof ff);
    void* p = amalloc(1, 16);
    if (p != NULL) {
      size_t total = HeapSize(hs_target.heap, 0, hs_aligned_raw(p));
      /* Wine: size + max(align, PTR_SZ) + PTR_SZ; UCRT: one byte less. */
      hs_target.old_aligned_wine_layout = total == 1 + 16 + PTR_SZ;
      afree(p);
    }
  }
  watch_exit(m);
  return TRUE;
}

static inline void set_errno(int e) { *hs_target.errno_fn() = e; }

/* _VALIDATE_RETURN: errno, then the invalid-parameter handler. */
static void invalid_parameter(int e) {
  set_errno(e);
  hs_target.invalid_parameter_noinfo();
}

/* A heap call's last error → errno: UCRT's __acrt_errno_from_os_error
 * (errno.cpp), whose table this is. */
static void errno_from_os(DWORD err) {
  static const struct {
    uint16_t os;
    uint8_t e;
  } table[] = {
      {ERROR_INVALID_FUNCTION, EINVAL},  {ERROR_FILE_NOT_FOUND, ENOENT},
      {ERROR_PATH_NOT_FOUND, ENOENT},    {ERROR_TOO_MANY_OPEN_FILES, EMFILE},
      {ERROR_ACCESS_DENIED, EACCES},     {ERROR_INVALID_HANDLE, EBADF},
      {ERROR_ARENA_TRASHED, ENOMEM},     {ERROR_NOT_ENOUGH_MEMORY, ENOMEM},
      {ERROR_INVALID_BLOCK, ENOMEM},     {ERROR_BAD_ENVIRONMENT, E2BIG},
      {ERROR_BAD_FORMAT, ENOEXEC},       {ERROR_INVALID_ACCESS, EINVAL},
      {ERROR_INVALID_DATA, EINVAL},      {ERROR_INVALID_DRIVE, ENOENT},
      {ERROR_CURRENT_DIRECTORY, EACCES}, {ERROR_NOT_SAME_DEVICE, EXDEV},
      {ERROR_NO_MORE_FILES, ENOENT},     {ERROR_LOCK_VIOLATION, EACCES},
      {ERROR_BAD_NETPATH, ENOENT},       {ERROR_NETWORK_ACCESS_DENIED, EACCES},
      {ERROR_BAD_NET_NAME, ENOENT},      {ERROR_FILE_EXISTS, EEXIST},
      {ERROR_CANNOT_MAKE, EACCES},       {ERROR_FAIL_I24, EACCES},
      {ERROR_INVALID_PARAMETER, EINVAL}, {ERROR_NO_PROC_SLOTS, EAGAIN},
      {ERROR_DRIVE_LOCKED, EACCES},      {ERROR_BROKEN_PIPE, EPIPE},
      {ERROR_DISK_FULL, ENOSPC},         {ERROR_INVALID_TARGET_HANDLE, EBADF},
      {ERROR_WAIT_NO_CHILDREN, ECHILD},  {ERROR_CHILD_NOT_COMPLETE, ECHILD},
      {ERROR_DIRECT_ACCESS_HANDLE, EBADF}, {ERROR_NEGATIVE_SEEK, EINVAL},
      {ERROR_SEEK_ON_DEVICE, EACCES},    {ERROR_DIR_NOT_EMPTY, ENOTEMPTY},
      {ERROR_NOT_LOCKED, EACCES},        {ERROR_BAD_PATHNAME, ENOENT},
      {ERROR_MAX_THRDS_REACHED, EAGAIN}, {ERROR_LOCK_FAILED, EACCES},
      {ERROR_ALREADY_EXISTS, EEXIST},    {ERROR_FILENAME_EXCED_RANGE, ENOENT},
      {ERROR_NESTING_NOT_ALLOWED, EAGAIN}, {ERROR_NO_UNICODE_TRANSLATION, EILSEQ},
      {ERROR_NOT_ENOUGH_QUOTA, ENOMEM},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (table[i].os == err) {
      set_errno(table[i].e);
      return;
    }
  }
  if (err >= ERROR_WRITE_PROTECT && err <= ERROR_SHARING_BUFFER_EXCEEDED) {
    set_errno(EACCES);
  } else if (err >= ERROR_INVALID_STARTING_CODESEG &&
             err <= ERROR_INFLOOP_IN_RELOC_CHAIN) {
    set_errno(ENOEXEC);
  } else {
    set_errno(EINVAL);
  }
}

/* ---- process exit ---------------------------------------------------------
 * ExitProcess kills every other thread wherever it is, also inside
 * mimalloc's bookkeeping: holding v2's abandoned-segment reader count, a
 * page's delayed-free state, v3's locks. Code that runs after that (DLL
 * detach: the CRT's, other DLLs' static destructors) and calls into
 * mimalloc can wait for a dead thread forever. So once the other threads
 * are gone no hook calls into mimalloc again: frees of its blocks are
 * dropped (the process is ending anyway) and new blocks come from the CRT
 * heap, as UCRT's would (to the hooks they are old blocks).
 * "Gone" is ntdll's RtlDllShutdownInProgress, set before the first DLL is
 * detached. The hot path only tests exit_state: an atexit entry of ours
 * (exit() runs it while every thread still lives; an at_quick_exit one
 * for quick_exit()) arms the ntdll check, and our DLL_PROCESS_DETACH
 * (ExitProcess or _exit called directly) sets "gone".
 *
 * The atexit entry (_crt_atexit) takes the CRT's exit lock, which exit()
 * holds while the handlers run, and a handler may need the loader lock
 * (FreeLibrary, LoadLibrary, a thread join). So it is asked for from
 * DllMain only by a load at start (a static import: no exit() yet); a load
 * mid-run (an injection, which may land during exit()) leaves it to a
 * thread no program code waits for: heapshift's injector creates the event
 * HS_ARM_EVENT_FORMAT before its LoadLibraryW and then calls
 * heapshift_arm_exit_watch on a remote thread of its own, the one that ran
 * LoadLibraryW, once that returns (AWAIT_ARM until then; an injector gone
 * without calling takes its event along, and once the loading thread has
 * ended too the state becomes UNARMED). Any other load mid-run
 * (the program's own LoadLibrary, an injector whose event we cannot see)
 * is UNARMED: the first malloc, free or realloc the program itself makes
 * outside the loader lock asks for it, and waits if exit() is running on
 * another thread. Never one the CRT makes: it may hold its exit lock in
 * the middle of changing the table (growing it with _recalloc_base in
 * _register_onexit_function, freeing it after running it), and the
 * recursive lock would let our request change it under it. Both states
 * send every hook to its slow path. */
enum {
  RUNNING = 0,
  EXIT_BEGUN = 1,
  THREADS_GONE = 2,
  UNARMED = 3,   /* the atexit entry is yet to be asked for */
  ARMING = 4,    /* a thread is asking for it */
  AWAIT_ARM = 5, /* the injector will ask for it; hooks wait for that */
  EXIT_MAYBE = 6 /* asking took long: exit() may have run the table first;
                    as EXIT_BEGUN until maybe_until (threads_gone) */
};
static volatile LONG exit_state;
static BOOLEAN(NTAPI* shutdown_in_progress)(void);
static int(__cdecl* crt_atexit)(void(__cdecl*)(void));
static int(__cdecl* crt_at_quick_exit)(void(__cdecl*)(void));
BOOL hs_loaded_at_start;

static void __cdecl on_exit_begun(void) {
  /* from any state but "gone": an ARMING thread must not undo it */
  for (;;) {
    LONG s = exit_state;
    if (s == THREADS_GONE ||
        InterlockedCompareExchange(&exit_state, EXIT_BEGUN, s) == s) {
      break;
    }
  }
  hs_trim_stop(); /* before ExitProcess can kill it inside a heap call */
}

void hs_process_detach(void) { exit_state = THREADS_GONE; }

/* Whether this thread holds the loader lock (PEB.LoaderLock); TRUE when
 * that cannot be told. */
static BOOL loader_lock_held(void) {
  uint8_t* peb = (uint8_t*)HS_TEB_READ(HS_TEB_PEB);
  CRITICAL_SECTION* cs = *(CRITICAL_SECTION**)(peb + HS_PEB_LOADER_LOCK);
  return cs == NULL || (uintptr_t)cs->OwningThread == hs_thread_id();
}

/* Longer than registering takes, unless exit() held the lock (ms; Windows'
 * tick is 15.6 ms). Wrong the other way it costs the slow path for
 * ARM_MAYBE_MS. */
#define ARM_WAITED_MS 100
/* How long a request that took longer stays EXIT_MAYBE (ms). Had exit()
 * held the lock, it let it go having run the table, and ExitProcess comes
 * next: within this, every hook checks for it. Without it, the process runs
 * on and so does the entry, in the table: a thread preempted there, or one
 * that waited while another thread held the lock, must not leave every hook
 * on its slow path and the trimmer stopped for the process's life. (After
 * _cexit(), a program that goes on is left as one that calls ExitProcess
 * directly.) */
#define ARM_MAYBE_MS 2000
static volatile ULONGLONG maybe_until;

/* Registers on_exit_begun for exit() and quick_exit(); FALSE if a table
 * could not take it (it would never run). */
static BOOL register_exit_entries(void) {
  if (crt_atexit(on_exit_begun) != 0) return FALSE;
  return crt_at_quick_exit == NULL || crt_at_quick_exit(on_exit_begun) == 0;
}

/* In state `from`: asks for the atexit entry, unless this thread holds the
 * loader lock (a later call will). TRUE if this call got it. */
static BOOL arm_exit_watch(LONG from) {
  if (loader_lock_held()) return FALSE;
  if (InterlockedCompareExchange(&exit_state, ARMING, from) != from) {
    return FALSE;
  }
  DWORD err = GetLastError();
  ULONGLONG asked = GetTickCount64();
  BOOL registered = register_exit_entries();
  SetLastError(err);
  ULONGLONG now = GetTickCount64();
  if (!registered) {
    /* No table took it: act as if it ran (the hooks keep checking). */
    on_exit_begun();
  } else if (now - asked > ARM_WAITED_MS) {
    /* It may have waited for exit() to let the lock go, and gone into a
     * table already run: the hooks check for the end for a while. The
     * trimmer goes on: had exit() held the lock, it ran the table before
     * our entry was in it, so nothing stops the trimmer before ExitProcess
     * (as when ExitProcess is called directly, trim.c's "Exit"). */
    maybe_until = now + ARM_MAYBE_MS;
    InterlockedCompareExchange(&exit_state, EXIT_MAYBE, ARMING);
  } else {
    InterlockedCompareExchange(&exit_state, RUNNING, ARMING);
  }
  return TRUE;
}

/* Whether the atexit entry is still to be asked for, by a hook or by the
 * injector. */
static BOOL unarmed(LONG s) { return s == UNARMED || s == AWAIT_ARM; }

int hs_arm_exit_watch(void) {
  LONG s = exit_state;
  return unarmed(s) && arm_exit_watch(s);
}

/* Whether `p` lies in the image mapped at `m`. */
static BOOL in_image(HMODULE m, const void* p) {
  const uint8_t* base = (const uint8_t*)m;
  const IMAGE_NT_HEADERS* nt =
      (const IMAGE_NT_HEADERS*)(base + ((const IMAGE_DOS_HEADER*)m)->e_lfanew);
  return (const uint8_t*)p >= base &&
         (const uint8_t*)p < base + nt->OptionalHeader.SizeOfImage;
}

/* Whether the injector's event exists: TRUE, FALSE, or (neither can be
 * told) `unknown`. */
static BOOL injector_event(BOOL unknown);

/* How often AWAIT_ARM looks for the injector's event (ms). */
#define INJECTOR_CHECK_MS 100

/* AWAIT_ARM: the thread that loaded us (SYNCHRONIZE), or NULL. The
 * injector's stub arms from that thread once its LoadLibraryW returns, and
 * it goes on doing so after the injector gave up waiting or is gone. */
static HANDLE loading_thread;

/* AWAIT_ARM: whether the injector is gone without arming: its event no
 * longer exists (killed, or it gave up waiting) and the thread that loaded
 * us, which would arm next, has ended too (or is not known). Looked at every
 * INJECTOR_CHECK_MS at most. */
static BOOL injector_gone(void) {
  static volatile ULONGLONG next_check;
  ULONGLONG now = GetTickCount64();
  if (now < next_check) return FALSE;
  next_check = now + INJECTOR_CHECK_MS;
  DWORD err = GetLastError();
  BOOL gone = !injector_event(TRUE) &&
              (loading_thread == NULL ||
               WaitForSingleObject(loading_thread, 0) != WAIT_TIMEOUT);
  SetLastError(err);
  return gone;
}

/* UNARMED: arms from a call the program made (`caller`, a hook's return
 * address), never from one the CRT made, nor where the caller is unknown
 * (an address in this DLL: a hook's code reached from another hook).
 * AWAIT_ARM whose injector is gone becomes UNARMED first. */
static HS_NOINLINE void arm_from(const void* caller) {
  extern IMAGE_DOS_HEADER __ImageBase;
  if (exit_state == AWAIT_ARM) {
    if (!injector_gone()) return;
    InterlockedCompareExchange(&exit_state, UNARMED, AWAIT_ARM);
  }
  if (in_image(hs_target.ucrtbase, caller) ||
      in_image((HMODULE)&__ImageBase, caller)) {
    return;
  }
  arm_exit_watch(UNARMED);
}

/* The slow paths' way in: arm_from while the entry is still to be asked
 * for. */
static inline void arm_if_unarmed(const void* caller) {
  if (unarmed(exit_state)) arm_from(caller);
}

static HS_NOINLINE BOOL threads_gone(void) {
  if (exit_state == THREADS_GONE) return TRUE;
  if (shutdown_in_progress == NULL || !shutdown_in_progress()) {
    /* no ExitProcess since a long request: the process runs on (a real
     * exit() meanwhile moved the state on, and this changes nothing) */
    if (exit_state == EXIT_MAYBE && GetTickCount64() > maybe_until) {
      InterlockedCompareExchange(&exit_state, RUNNING, EXIT_MAYBE);
    }
    return FALSE;
  }
  exit_state = THREADS_GONE;
  return TRUE;
}

/* TRUE once mimalloc must not be called any more. */
#define PROCESS_ENDING() (!HS_LIKELY(exit_state == RUNNING) && threads_gone())

/* The injector's event name, made in DllMain: a hook calls no CRT code. */
static wchar_t arm_event_name[64];

static BOOL injector_event(BOOL unknown) {
  if (arm_event_name[0] == 0) {
    _snwprintf(arm_event_name, 64, HS_ARM_EVENT_FORMAT, GetCurrentProcessId());
  }
  HANDLE e = OpenEventW(SYNCHRONIZE, FALSE, arm_event_name);
  if (e != NULL) {
    CloseHandle(e);
    return TRUE;
  }
  DWORD err = GetLastError();
  /* an elevated injector's event: there, but not ours to open */
  if (err == ERROR_ACCESS_DENIED) return TRUE;
  if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) return FALSE;
  return unknown;
}

BOOL hs_injector_loading(void) {
  return !hs_loaded_at_start && injector_event(FALSE);
}

/* Arms the check above: at once for a load at start, else by the injector
 * (AWAIT_ARM) or from a later hook call (UNARMED). */
static void watch_exit(HMODULE ucrt) {
  FARPROC f = hs_ntdll_fn("RtlDllShutdownInProgress");
  memcpy(&shutdown_in_progress, &f, sizeof f);
  FARPROC a = GetProcAddress(ucrt, "_crt_atexit");
  memcpy(&crt_atexit, &a, sizeof a);
  FARPROC q = GetProcAddress(ucrt, "_crt_at_quick_exit");
  memcpy(&crt_at_quick_exit, &q, sizeof q);
  if (crt_atexit == NULL) return;
  if (hs_loaded_at_start) {
    if (!register_exit_entries()) exit_state = EXIT_BEGUN; /* keep checking */
  } else {
    if (injector_event(FALSE)) {
      /* kept for the process's life: one handle */
      loading_thread = OpenThread(SYNCHRONIZE, FALSE, GetCurrentThreadId());
      exit_state = AWAIT_ARM;
    } else {
      exit_state = UNARMED;
    }
  }
}

/* ---- primitives (counted) --------------------------------------------- */

/* A block from the CRT heap (to the hooks, an old block); NULL without
 * one, errno untouched. */
static void* alloc_old(size_t n, BOOL zero) {
  void* p = HeapAlloc(hs_target.heap, zero ? HEAP_ZERO_MEMORY : 0, n);
  if (p != NULL) hs_count(HS_C_ALLOCS, 1);
  return p;
}

/* mimalloc could not serve `n` bytes: the CRT heap, then _malloc_base's
 * new-handler loop with both. The old heap's free space is the program's
 * too (UCRT would serve from it), and a 32-bit program taken over late
 * keeps much of its address space there: what mimalloc cannot map may
 * still fit. Blocks from there are old blocks to every hook. */
static HS_NOINLINE void* alloc_block_retry(size_t n, BOOL zero) {
  for (;;) {
    void* p = alloc_old(n, zero);
    if (p != NULL) return p;
    if (hs_target.query_new_mode() == 0 || !hs_target.callnewh(n)) {
      set_errno(ENOMEM);
      return NULL;
    }
    /* the handler ran code of the program's: the process may be ending */
    if (PROCESS_ENDING()) continue;
    p = hs_mi_alloc(n, zero);
    if (p != NULL) {
      hs_count(HS_C_ALLOCS, 1);
      return p;
    }
  }
}

/* Once the process is ending: a block from the CRT heap. */
static HS_NOINLINE void* alloc_exiting(size_t n, BOOL zero) {
  void* p = alloc_old(n, zero);
  if (p == NULL) set_errno(ENOMEM);
  return p;
}

/* alloc_block once the process may be ending, or the exit watch is not
 * armed; `caller`: the hook's return address. */
static HS_NOINLINE void* alloc_block_slow(size_t n, BOOL zero,
                                          const void* caller) {
  arm_if_unarmed(caller);
  if (PROCESS_ENDING()) return alloc_exiting(n, zero);
  void* p = hs_mi_alloc(n, zero);
  if (HS_LIKELY(p != NULL)) {
    hs_count(HS_C_ALLOCS, 1);
    return p;
  }
  return alloc_block_retry(n, zero);
}

/* A block from mimalloc or else the CRT heap, without the new-handler;
 * NULL without one, errno untouched. */
static void* alloc_quiet(size_t n) {
  void* p = PROCESS_ENDING() ? NULL : hs_mi_alloc(n, FALSE);
  if (p == NULL) return alloc_old(n, FALSE);
  hs_count(HS_C_ALLOCS, 1);
  return p;
}

/* Counts a new block for a thread without a stripe yet. */
static HS_NOINLINE void* alloc_counted_slow(void* p) {
  hs_count(HS_C_ALLOCS, 1);
  return p;
}

/* The fast path makes no call of its own (every other way out is a tail
 * call), so the compiler gives the hooks no stack frame for it. The stripe
 * is read after the allocation: mimalloc's slow path runs the counters'
 * heartbeat, which can move the thread to another stripe and free the
 * private one. */
static HS_ALWAYS_INLINE void* alloc_block(size_t n, BOOL zero) {
  if (!HS_LIKELY(exit_state == RUNNING)) {
    return alloc_block_slow(n, zero, HS_CALLER());
  }
  void* p = hs_mi_alloc(n, zero);
  if (!HS_LIKELY(p != NULL)) return alloc_block_retry(n, zero);
  hs_stripe* s = hs_count_stripe();
  if (!HS_LIKELY(s != NULL)) return alloc_counted_slow(p);
  hs_count_in(s, HS_C_ALLOCS, 1);
  return p;
}

/* Releases an old-heap block (HeapFree); TRUE when it was released. `n` is
 * its HeapSize when the caller has it, else (size_t)-1. Under Wine a large
 * one's whole pages are reset first (trim.c): the block is still the
 * program's, so nothing of the heap's is touched, and HeapSize answers only
 * for what the heap takes for a busy block, as HeapFree would. `caller`:
 * the hook's return address (a program that only frees or moves its old
 * blocks arms the exit watch here). */
static HS_NOINLINE BOOL release_old_block(void* p, size_t n,
                                          const void* caller) {
  arm_if_unarmed(caller);
  if (hs_trim_on_free) hs_trim_block(p, n != (size_t)-1 ? n : hs_old_size(p));
  if (!hs_old_free(p)) {
    errno_from_os(GetLastError());
    return FALSE;
  }
  hs_count(HS_C_FREES, 1);
  hs_count(HS_C_FREES_OLD, 1);
  return TRUE;
}

/* release_owned off its fast path: the process may be ending, the exit
 * watch is not armed, or the thread has no stripe yet. `caller`: the
 * hook's return address. */
static HS_NOINLINE void release_owned_slow(void* p, hs_mi_owner owner,
                                           const void* caller) {
  arm_if_unarmed(caller);
  if (PROCESS_ENDING()) return;
  hs_count(HS_C_FREES, 1);
  hs_mi_free_owned(p, owner);
}

/* Releases a mimalloc block, unless the process is ending. Counted first,
 * so the free can be a tail call; the fast path makes no other call. */
static HS_ALWAYS_INLINE void release_owned(void* p, hs_mi_owner owner) {
  hs_stripe* s = hs_count_stripe();
  if (!HS_LIKELY(exit_state == RUNNING && s != NULL)) {
    release_owned_slow(p, owner, HS_CALLER());
    return;
  }
  hs_count_in(s, HS_C_FREES, 1);
  hs_mi_free_owned(p, owner);
}

/* Releases any block; TRUE if it was an old-heap block. `old_size`: an
 * old block's HeapSize if known, else (size_t)-1. */
static HS_ALWAYS_INLINE BOOL release_sized(void* p, size_t old_size) {
  hs_mi_owner owner = hs_mi_owner_of(p);
  if (HS_LIKELY(owner)) {
    release_owned(p, owner);
    return FALSE;
  }
  release_old_block(p, old_size, HS_CALLER());
  return TRUE;
}

static HS_ALWAYS_INLINE BOOL release_block(void* p) {
  return release_sized(p, (size_t)-1);
}

/* An old block moved into mimalloc block `p` (a migration): `old` (its
 * HeapSize) or `size` bytes copied, the old block released, counted.
 * `caller`: the hook's return address. */
static void* migrate_to(void* p, void* block, size_t old, size_t size,
                        const void* caller) {
  hs_count(HS_C_ALLOCS, 1);
  size_t copied = old < size ? old : size;
  copy_bytes(p, block, copied);
  release_old_block(block, old, caller);
  hs_count(HS_C_MIGRATIONS, 1);
  hs_count(HS_C_MIGRATED_BYTES, (int64_t)copied);
  return p;
}

/* _realloc_base on the old heap (HeapReAlloc, the new-handler loop,
 * ENOMEM) for HEAPSHIFT_NO_MIGRATE, the process's end, or when mimalloc
 * cannot take the block. UCRT retries its one heap after the handler; what
 * the handler frees may be mimalloc's, so a block that may migrate (`old`:
 * its HeapSize; (size_t)-1: it stays old) is offered to mimalloc again. */
static void* old_realloc(void* block, size_t size, size_t old,
                         const void* caller) {
  for (;;) {
    void* p = hs_old_realloc(block, size);
    if (p != NULL) return p;
    if (hs_target.query_new_mode() == 0 || !hs_target.callnewh(size)) {
      set_errno(ENOMEM);
      return NULL;
    }
    if (old == (size_t)-1 || PROCESS_ENDING()) continue;
    p = hs_mi_alloc(size, FALSE);
    if (p != NULL) return migrate_to(p, block, old, size, caller);
  }
}

/* HEAPSHIFT_NO_MIGRATE: a new raw block on the old heap (_malloc_base:
 * past _HEAP_MAXREQ, ENOMEM before the heap or the new-handler). */
static void* old_alloc(size_t size) {
  if (size > HS_HEAP_MAXREQ) {
    set_errno(ENOMEM);
    return NULL;
  }
  for (;;) {
    void* p = hs_old_alloc(size);
    if (p != NULL) return p;
    if (hs_target.query_new_mode() == 0 || !hs_target.callnewh(size)) {
      set_errno(ENOMEM);
      return NULL;
    }
  }
}

/* A mimalloc block `p` resized to `n` bytes where it is (nothing moves), or
 * FALSE. A shrink by more than 4 GiB, which the padding cannot record (its
 * distance back to the requested size is 32 bits), keeps the block as it
 * is, its _msize too, as UCRT's _expand_base keeps a block its heap cannot
 * contract. */
static BOOL fit_in_place(void* p, size_t n) {
  return hs_mi_resize_in_place(p, n, FALSE) || n <= hs_mi_size(p);
}

static size_t block_size(void* p) {
  return hs_mi_owns_fast(p) ? hs_mi_size(p) : hs_old_size(p);
}

/* What a move carries over from a block: HeapSize for an old block, the
 * whole mimalloc block (a write a few bytes past the requested size, which
 * UCRT's slack forgives, is not lost). */
static size_t carry_size(void* p) {
  return hs_mi_owns_fast(p) ? hs_mi_capacity(p) : hs_old_size(p);
}

/* ---- malloc family ------------------------------------------------------ */

void* __cdecl hs_malloc(size_t size) {
  if (size > HS_HEAP_MAXREQ) {
    set_errno(ENOMEM);
    return NULL;
  }
  return alloc_block(size == 0 ? 1 : size, FALSE);
}

void* __cdecl hs_calloc(size_t count, size_t size) {
  if (count != 0 && HS_HEAP_MAXREQ / count < size) {
    set_errno(ENOMEM);
    return NULL;
  }
  size_t n = count * size;
  return alloc_block(n == 0 ? 1 : n, TRUE);
}

void __cdecl hs_free(void* block) {
  if (block == NULL) return;
  release_block(block);
}

void* __cdecl hs_realloc(void* block, size_t size) {
  if (block == NULL) return hs_malloc(size);
  if (size == 0) {
    hs_free(block);
    return NULL;
  }
  if (size > HS_HEAP_MAXREQ) {
    set_errno(ENOMEM);
    return NULL;
  }
  hs_mi_owner owner = hs_mi_owner_of(block);
  if (owner) {
    if (hs_mi_resize_in_place(block, size, TRUE)) return block;
    size_t old = hs_mi_capacity(block);
    void* p = NULL;
    if (size < old) {
      /* A shrink that would waste half the block moves, if a block can be
       * had; if not, it stays (UCRT's HeapReAlloc shrinks in place): no
       * new-handler, no ENOMEM. */
      p = alloc_quiet(size);
      if (p == NULL && fit_in_place(block, size)) return block;
    }
    if (p == NULL) p = alloc_block(size, FALSE);
    if (p == NULL) return NULL;
    copy_bytes(p, block, old < size ? old : size);
    release_owned(block, owner);
    return p;
  }
  if (hs_no_migrate) return old_realloc(block, size, (size_t)-1, NULL);
  /* An old block: migrate it, unless mimalloc cannot take it or the
   * process is ending; then it is resized where it is, as UCRT would
   * (HeapReAlloc may grow it in place). */
  size_t old = hs_old_size(block);
  if (old == (size_t)-1) {
    set_errno(ENOMEM);
    return NULL;
  }
  if (PROCESS_ENDING()) return old_realloc(block, size, (size_t)-1, NULL);
  void* p = hs_mi_alloc(size, FALSE);
  if (p == NULL) return old_realloc(block, size, old, HS_CALLER());
  return migrate_to(p, block, old, size, HS_CALLER());
}

size_t __cdecl hs_msize(void* block) {
  if (block == NULL) {
    invalid_parameter(EINVAL);
    return (size_t)-1;
  }
  return block_size(block);
}

/* _expand_base's is_contraction_possible: the low-fragmentation heap
 * cannot shrink its blocks (up to 16 KiB) in place; asked each time, as
 * UCRT does (a heap turns LFH on as it goes). */
static BOOL contraction_possible(size_t old) {
  if (old > 0x4000) return TRUE;
  ULONG type = 0;
  if (!HeapQueryInformation(hs_target.heap, HeapCompatibilityInformation,
                            &type, sizeof type, NULL)) {
    return FALSE;
  }
  return type != 2;
}

/* _expand: mimalloc blocks resize within their capacity; old blocks as
 * UCRT's _expand_base does it (below). */
void* __cdecl hs_expand(void* block, size_t size) {
  if (block == NULL) {
    invalid_parameter(EINVAL);
    return NULL;
  }
  if (size > HS_HEAP_MAXREQ) {
    set_errno(ENOMEM);
    return NULL;
  }
  size_t n = size == 0 ? 1 : size;
  if (hs_mi_owns_fast(block)) {
    if (fit_in_place(block, n)) return block;
    hs_count(HS_C_EXPAND_REJECTS, 1);
    set_errno(ENOMEM);
    return NULL;
  }
  /* _expand_base: the heap first, growing too; a refused shrink of a block
   * the low-fragmentation heap holds (it cannot contract those) keeps the
   * block as it is. */
  size_t old = hs_old_size(block);
  void* p = hs_old_resize_in_place(block, n);
  if (p != NULL) return p;
  DWORD err = GetLastError();
  if (old != (size_t)-1 && n <= old && !contraction_possible(old)) {
    return block;
  }
  hs_count(HS_C_EXPAND_REJECTS, 1);
  errno_from_os(err);
  return NULL;
}

void* __cdecl hs_recalloc(void* block, size_t count, size_t size) {
  if (count != 0 && HS_HEAP_MAXREQ / count < size) {
    set_errno(ENOMEM);
    return NULL;
  }
  size_t old = block != NULL ? hs_msize(block) : 0;
  size_t n = count * size;
  uint8_t* p = hs_realloc(block, n);
  if (p != NULL && old < n) zero_bytes(p + old, n - old);
  return p;
}

/* ---- strings ----------------------------------------------------------- */

char* __cdecl hs_strdup(const char* s) {
  if (s == NULL) return NULL;
  size_t n = strlen(s) + 1;
  char* p = hs_malloc(n);
  if (p != NULL) copy_bytes(p, s, n);
  return p;
}

wchar_t* __cdecl hs_wcsdup(const wchar_t* s) {
  if (s == NULL) return NULL;
  size_t n = (wcslen(s) + 1) * sizeof(wchar_t);
  wchar_t* p = hs_malloc(n);
  if (p != NULL) copy_bytes(p, s, n);
  return p;
}

/* ---- _aligned_* (UCRT align.cpp, on top of the primitives) --------------
 * Layout, new blocks and old alike: raw = malloc(8 + gap + a + size) with
 * a = max(align, 8) - 1 and gap = (-offset) & 7; the result p satisfies
 * (p + offset) % align == 0 and raw is stored at ((uintptr_t*)(p-gap))[-1].
 * Whether a block is old is decided by where its raw pointer lives. */

/* UCRT's argument checks of the offset family: a power-of-two alignment
 * and an offset inside the block; EINVAL through the invalid-parameter
 * handler otherwise. */
static int aligned_args_valid(size_t size, size_t align, size_t offset) {
  if (!IS_2_POW_N(align) || !(offset == 0 || offset < size)) {
    invalid_parameter(EINVAL);
    return 0;
  }
  return 1;
}

/* Where the user block of an aligned block in raw block `raw` starts
 * (`align`: max(alignment, 8) - 1). A raw block on the old heap under Wine
 * (served there when mimalloc could not, or at exit) takes Wine's own
 * layout, which the old-block branch of _aligned_msize reads back. */
static uintptr_t aligned_user(uintptr_t raw, size_t align, size_t gap,
                              size_t offset) {
  if (hs_target.old_aligned_wine_layout && !hs_mi_owns_fast((void*)raw)) {
    return ((raw + align + 1 + PTR_SZ + offset) & ~align) - offset;
  }
  return ((raw + PTR_SZ + gap + align + offset) & ~align) - offset;
}

/* The raw block's size in Wine's layout for one UCRT's makes `total`
 * bytes: size + max(align, 8) + 8 whatever the offset (UCRT's adds the
 * gap, less one), which the old-block branch of _aligned_msize counts on. */
static size_t wine_total(size_t total, size_t gap) {
  size_t wine = total - gap + 1;
  return wine != 0 ? wine : total; /* 0: wrapped (HeapAlloc refuses both) */
}

/* A raw block of `total` bytes for an aligned one (0 without one); `quiet`:
 * without the new-handler or errno (alloc_quiet). One the old heap served
 * under Wine is resized to Wine's layout there. */
static uintptr_t aligned_raw_alloc(size_t total, size_t gap, BOOL quiet) {
  void* raw = quiet ? alloc_quiet(total) : hs_malloc(total);
  if (raw == NULL || !hs_target.old_aligned_wine_layout ||
      hs_mi_owns_fast(raw) || wine_total(total, gap) == total) {
    return (uintptr_t)raw;
  }
  void* more = hs_old_realloc(raw, wine_total(total, gap));
  if (more == NULL) {
    hs_free(raw);
    if (!quiet) set_errno(ENOMEM);
  }
  return (uintptr_t)more;
}

/* An aligned block whose raw block (mimalloc's) was resized in place: its
 * data moves to where the layout puts it for this alignment and offset
 * (UCRT's memmove after _expand), and the raw pointer is stored again. */
static void* aligned_in_place(uintptr_t raw, void* block, size_t movsz,
                              size_t align, size_t gap, size_t offset) {
  uintptr_t ret = aligned_user(raw, align, gap, offset);
  if (ret != (uintptr_t)block) memmove((void*)ret, block, movsz);
  ((uintptr_t*)(ret - gap))[-1] = raw;
  return (void*)ret;
}

void* __cdecl hs_aligned_offset_malloc(size_t size, size_t align,
                                       size_t offset) {
  if (!aligned_args_valid(size, align, offset)) return NULL;
  align = (align > PTR_SZ ? align : PTR_SZ) - 1;
  size_t gap = (0 - offset) & (PTR_SZ - 1);
  size_t nonuser = PTR_SZ + gap + align;
  size_t total = nonuser + size;
  if (size > total) {
    set_errno(ENOMEM);
    return NULL;
  }
  uintptr_t raw = aligned_raw_alloc(total, gap, FALSE);
  if (raw == 0) return NULL;
  uintptr_t p = aligned_user(raw, align, gap, offset);
  ((uintptr_t*)(p - gap))[-1] = raw;
  return (void*)p;
}

void* __cdecl hs_aligned_malloc(size_t size, size_t align) {
  return hs_aligned_offset_malloc(size, align, 0);
}

void __cdecl hs_aligned_free(void* block) {
  if (block == NULL) return;
  hs_free(hs_aligned_raw(block));
}

size_t __cdecl hs_aligned_msize(void* block, size_t align, size_t offset) {
  /* UCRT checks the pointer only, never the alignment. */
  if (block == NULL) {
    invalid_parameter(EINVAL);
    return (size_t)-1;
  }
  void* raw = hs_aligned_raw(block);
  if (!hs_mi_owns_fast(raw) && hs_target.old_aligned_wine_layout) {
    return hs_old_size(raw) - (align > PTR_SZ ? align : PTR_SZ) - PTR_SZ;
  }
  align = (align > PTR_SZ ? align : PTR_SZ) - 1;
  size_t gap = (0 - offset) & (PTR_SZ - 1);
  size_t header = PTR_SZ + gap + align;
  return block_size(raw) - header;
}

void* __cdecl hs_aligned_offset_realloc(void* block, size_t size, size_t align,
                                        size_t offset) {
  if (block == NULL) return hs_aligned_offset_malloc(size, align, offset);
  if (size == 0) {
    hs_aligned_free(block);
    return NULL;
  }
  if (!aligned_args_valid(size, align, offset)) return NULL;
  uintptr_t raw = (uintptr_t)hs_aligned_raw(block);
  align = (align > PTR_SZ ? align : PTR_SZ) - 1;
  size_t gap = (0 - offset) & (PTR_SZ - 1);
  size_t avail = carry_size((void*)raw), diff = (uintptr_t)block - raw;
  size_t movsz = avail > diff ? avail - diff : 0;
  if (movsz > size) movsz = size;
  size_t reqsz = PTR_SZ + gap + align + size;
  if (size > reqsz) {
    set_errno(ENOMEM);
    return NULL;
  }
  if (hs_no_migrate && !hs_mi_owns_fast((void*)raw)) {
    /* An old block that must stay old: a new raw block on the old heap in
     * the old blocks' layout, copy, release the old raw block. Nothing is
     * counted. */
    size_t total =
        hs_target.old_aligned_wine_layout ? wine_total(reqsz, gap) : reqsz;
    uintptr_t q = (uintptr_t)old_alloc(total);
    if (q == 0) return NULL;
    uintptr_t ret = aligned_user(q, align, gap, offset);
    copy_bytes((void*)ret, block, movsz);
    ((uintptr_t*)(ret - gap))[-1] = q;
    if (!hs_old_free((void*)raw)) errno_from_os(GetLastError());
    return (void*)ret;
  }
  /* UCRT first resizes the raw block in place (_expand) when the data lies
   * within the new layout's header room. Here a mimalloc raw block does,
   * within mimalloc's waste limit; a shrink past it moves when another
   * block can be had, and otherwise stays. An old raw block moves (a
   * migration). */
  BOOL stays = hs_mi_owns_fast((void*)raw) &&
               raw + PTR_SZ + gap + align >= (uintptr_t)block;
  if (stays && hs_mi_resize_in_place((void*)raw, reqsz, TRUE)) {
    return aligned_in_place(raw, block, movsz, align, gap, offset);
  }
  uintptr_t p = 0;
  if (stays && reqsz < avail) {
    p = aligned_raw_alloc(reqsz, gap, TRUE);
    if (p == 0 && fit_in_place((void*)raw, reqsz)) {
      return aligned_in_place(raw, block, movsz, align, gap, offset);
    }
  }
  if (p == 0) p = aligned_raw_alloc(reqsz, gap, FALSE);
  if (p == 0) return NULL;
  uintptr_t ret = aligned_user(p, align, gap, offset);
  copy_bytes((void*)ret, block, movsz);
  /* a migration: an old raw block's data now in mimalloc (not in a block
   * the CRT heap served because mimalloc could not) */
  if (release_sized((void*)raw, avail) && hs_mi_owns_fast((void*)p)) {
    hs_count(HS_C_MIGRATIONS, 1);
    hs_count(HS_C_MIGRATED_BYTES, (int64_t)movsz);
  }
  ((uintptr_t*)(ret - gap))[-1] = p;
  return (void*)ret;
}

void* __cdecl hs_aligned_realloc(void* block, size_t size, size_t align) {
  return hs_aligned_offset_realloc(block, size, align, 0);
}

void* __cdecl hs_aligned_offset_recalloc(void* block, size_t count,
                                         size_t size, size_t align,
                                         size_t offset) {
  if (!(count == 0 || HS_HEAP_MAXREQ / count >= size)) {
    set_errno(ENOMEM);
    return NULL;
  }
  size_t user = size * count;
  size_t start_fill = 0;
  if (block != NULL) start_fill = hs_aligned_msize(block, align, offset);
  uint8_t* p = hs_aligned_offset_realloc(block, user, align, offset);
  if (p != NULL && start_fill < user) {
    zero_bytes(p + start_fill, user - start_fill);
  }
  return p;
}

void* __cdecl hs_aligned_recalloc(void* block, size_t count, size_t size,
                                  size_t align) {
  return hs_aligned_offset_recalloc(block, count, size, align, 0);
}

/* ---- _heapmin ------------------------------------------------------------
 * UCRT: HeapCompact(crt heap) ? 0 : -1, no errno. Old blocks still live in
 * that heap, so it is compacted as before; mimalloc gives back what it
 * holds unused first. */
int __cdecl hs_heapmin(void) {
  if (!PROCESS_ENDING()) hs_mi_collect();
  hs_trim_request(); /* the old heap's free pages: trim.c, not waited for */
  return HeapCompact(hs_target.heap, 0) != 0 ? 0 : -1;
}
