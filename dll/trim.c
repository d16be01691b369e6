/* Giving the old heap's freed pages back.
 *
 * After the takeover, old blocks leave the CRT heap (`_get_heap_handle()`)
 * one by one as the program frees or reallocates them, but the heap keeps
 * the pages they lived in: a late-injected program would carry the old
 * heap's high-water mark beside mimalloc's memory for the rest of its life.
 * A thread of ours (started once the hooks are live, so it runs after
 * DllMain has returned, never inside a hook) hands those pages back while
 * old blocks are being freed, and under Wine the hooks reset a dying old
 * block's own pages themselves:
 *
 * - Wine, the hooks (hs_trim_block; state "free-reset" when the walk is
 *   not asked for, and under every other running state too): before an old
 *   block of 16 KiB or more goes back to the heap, its whole pages are
 *   reset. The block is still the program's then, so no heap metadata is
 *   touched and no lock is needed. This is what Windows' NT heap does
 *   itself (it decommits large free ranges as they are freed).
 *
 * - Wine ("walk", only with HEAPSHIFT_TRIM_WALK=1): Wine's heap never
 *   decommits free space inside a subheap (HeapCompact is a stub returning 0; HeapSetInformation's
 *   HeapOptimizeResources is accepted and ignored). So, with the heap
 *   locked, the thread walks it (HeapWalk) and resets (VirtualAlloc
 *   MEM_RESET: contents no longer of interest, pages stay committed and
 *   usable) the whole pages inside each free block. Wine keeps a free
 *   block's own data before lpData (header and free-list links) and a
 *   back pointer in its last 8 bytes; a margin is kept on both sides.
 *   Busy entries (LFH groups included), uncommitted ranges and regions are
 *   never touched. Refused when the heap checks its free blocks
 *   (HEAP_FREE_CHECKING_ENABLED: Wine's `warn+heap` channel, NtGlobalFlag
 *   heap checks): there a free block must keep its fill pattern, which a
 *   reset page (zeros) would break. Opt-in because the heap lock is its
 *   only guard: a program that calls the CRT heap with HEAP_NO_SERIALIZE
 *   (Microsoft says not to on the process heap, and code does) can split
 *   a free block between the walk and the reset, and the reset zeroes the
 *   new block's header: Wine's heap then crashes (tests/win/
 *   dll_trim_noserialize_test.ts). Without it, under Wine, only the
 *   hooks' resets give pages back (state "free-reset").
 * - Windows ("optimize"): the NT heap already decommits large free ranges
 *   as blocks are freed (HeapCompact's documentation), and free blocks and
 *   LFH subsegments hold its own metadata (free lists, and the debug
 *   heap's fill patterns), so nothing outside the heap may reset them.
 *   The heap's own HeapSetInformation(HeapOptimizeResources) (Windows 8.1
 *   and later) releases what its caches and LFH hold instead, when the
 *   program calls _heapmin, on its thread, beside UCRT's HeapCompact: no
 *   thread of ours. That call holds the process heap's lock, which every
 *   Win32 API shares; on a thread of ours it would stall them all while
 *   that thread is preempted, and killed there by ExitProcess it would
 *   leave the lock held for every DLL's detach code (Windows then ends
 *   the process at the first that takes it).
 *
 * Pacing (the walk's thread): it sums the `frees_old` counter (stats.c)
 * every 10 ms while old blocks are being freed, backing off to once a
 * second when none are; a pass runs when the count moved (or `_heapmin`
 * asked). The pacing costs the hooks nothing: the counter already exists.
 * The thread is started only for a heap that grew past a few MiB (a
 * thread costs Wine about 1 MiB resident).
 *
 * Locks: a walk holds the heap lock (HeapLock) and nothing else, in
 * bounded chunks (4,096 entries or 64 resets) with the lock let go in
 * between. A walk cannot go on across an unlock (the entry it would
 * continue from may be gone), so a chunk starts again at the region
 * (subheap) it stopped in, skipping the entries it already saw. It takes
 * no other lock, allocates nothing and calls nothing that takes the
 * loader lock: waiting for the heap lock it blocks nobody else, and a
 * thread that holds the heap lock and needs the loader lock cannot wait
 * on it.
 *
 * Exit: ExitProcess kills the thread wherever it is, and on Windows a
 * heap lock left held by a killed thread makes every later call on that
 * heap fail (ERROR_POSSIBLE_DEADLOCK) while DLLs unload. So once exit()
 * begins (hooks.c's atexit entry, hs_trim_stop), the thread makes no more
 * heap calls, and exit waits until it is out of the one it may be in
 * (a flag each side sets before reading the other's, so one of them
 * always sees the other). ExitProcess called directly skips atexit: the
 * window is then one chunk under the heap lock (the opt-in walk).
 *
 * Switch: HEAPSHIFT_NO_TRIM=1 (read at load). State and counters: the
 * stats header's `trim` fields (STATS.md). */
#include "heapshift.h"

#define FAST_MS 10      /* polling while old blocks are being freed */
#define SLOW_MS 1000    /* polling when none are */
#define QUIET_POLLS 8   /* unchanged polls before backing off */
#define CHUNK_STEPS 4096
#define CHUNK_RESETS 64
#define MARGIN_HEAD 16 /* bytes past lpData kept (Wine: none needed) */
#define MARGIN_TAIL 32 /* bytes before the end kept (Wine: 8, back pointer) */
#define SEEN_SLOTS 4096
#define MIN_NEWEST_REGION (4u << 20) /* Wine: the heap grew past ~8 MiB */
#define FULL_PASS_EVERY 16 /* passes between two that reset everything */
/* Old blocks whose pages the hooks reset as they free them: from 16 KiB,
 * past the sizes Windows' low-fragmentation heap serves (which keeps a
 * freed block's bytes; a program that reads a block it just freed reads
 * them there, and here too). Below Wine's separate mappings for large
 * blocks (x64: 1020 KiB and up; x86: 508 KiB): HeapFree releases those. */
#define FREE_RESET_MIN (16u << 10)
#define FREE_RESET_MAX (sizeof(void*) == 8 ? 0xFF000u : 0x7F000u)

#ifndef HEAP_FREE_CHECKING_ENABLED
#define HEAP_FREE_CHECKING_ENABLED 0x40
#endif
#define NT_HEAP_SIGNATURE 0xFFEEFFEEu
/* HeapOptimizeResources (Windows 8.1+; the headers hide it below 0x0603). */
#define HEAP_CLASS_OPTIMIZE_RESOURCES ((HEAP_INFORMATION_CLASS)3)
typedef struct optimize_info {
  DWORD version; /* 1, the only one */
  DWORD flags;
} optimize_info;

/* A free range reset in an earlier pass: identical ranges are not reset
 * again in the next pass (the syscall per range is what a pass costs). */
typedef struct seen_range {
  uintptr_t lo, hi;
  uint32_t pass;
} seen_range;

static volatile hs_trim_stats* out;
static volatile LONG stopping; /* exit has begun: no more heap calls */
static volatile LONG in_heap;  /* the thread is in a heap call */
static HANDLE heap;
static HANDLE wake;
static size_t page;
static seen_range* seen;
static uint32_t pass_no;

static void set_state(uint32_t state, DWORD error) {
  out->error = error;
  MemoryBarrier();
  out->state = state;
}

const char* hs_wine_version(void) {
  FARPROC f = hs_ntdll_fn("wine_get_version");
  if (f == NULL) return NULL;
  const char*(__cdecl * version)(void);
  memcpy(&version, &f, sizeof f);
  return version();
}

/* Asked once: the stack resets may come on any thread. */
static BOOL running_on_wine(void) {
  static volatile LONG wine = -1; /* not known yet */
  if (wine < 0) InterlockedExchange(&wine, hs_wine_version() != NULL);
  return wine != 0;
}

/* Wine's start of every thread clears 960 KiB of its stack (ntdll's
 * signal_start_thread), all of it resident then, and the last thread to
 * have exited keeps its stack mapped until another exits: ~1 MB for a
 * thread that used a few KiB. Nothing lives below a thread's stack
 * pointer on heapshift's own threads (no red zone on Windows), and a reset
 * page reads as zeros at its next use; the margin keeps the reset's own
 * call clear of what it resets. Windows touches a stack only as it grows,
 * so this is Wine's. */
static void reset_below_frame(void) {
  const size_t margin = 16u * 1024u, pg = 4096u;
  const NT_TIB* tib = (const NT_TIB*)NtCurrentTeb();
  volatile char here = 0;
  uintptr_t sp = (uintptr_t)&here;
  uintptr_t lo = ((uintptr_t)tib->StackLimit + pg - 1) & ~(uintptr_t)(pg - 1);
  /* only inside the stack the TEB describes (not one switched to without
   * telling it) */
  if (sp <= lo + margin || sp > (uintptr_t)tib->StackBase) return;
  uintptr_t hi = (sp - margin) & ~(uintptr_t)(pg - 1);
  if (hi > lo) VirtualAlloc((void*)lo, hi - lo, MEM_RESET, PAGE_READWRITE);
}

/* The thread began in private memory (ThreadQuerySetWin32StartAddress). */
static BOOL started_in_private_memory(void) {
  typedef LONG(NTAPI * query_fn)(HANDLE, ULONG, void*, ULONG, ULONG*);
  FARPROC f = hs_ntdll_fn("NtQueryInformationThread");
  query_fn query;
  memcpy(&query, &f, sizeof f);
  const ULONG win32_start_address = 9; /* ThreadQuerySetWin32StartAddress */
  void* start = NULL;
  MEMORY_BASIC_INFORMATION mbi;
  return query != NULL &&
         query(GetCurrentThread(), win32_start_address, &start, sizeof start,
               NULL) >= 0 &&
         VirtualQuery(start, &mbi, sizeof mbi) == sizeof mbi &&
         mbi.Type == MEM_PRIVATE;
}

/* Both keep the thread's last error. */
void hs_stack_release(void) {
  DWORD error = GetLastError();
  if (running_on_wine()) reset_below_frame();
  SetLastError(error);
}

void hs_injector_stack_release(void) {
  DWORD error = GetLastError();
  if (running_on_wine() && started_in_private_memory()) reset_below_frame();
  SetLastError(error);
}

/* A field of the heap's header, read without faulting. */
static BOOL heap_field(HANDLE h, size_t offset, uint32_t* value) {
  return ReadProcessMemory(GetCurrentProcess(), (uint8_t*)h + offset, value,
                           sizeof *value, NULL);
}

/* The NT heap's header: the segment signature, then the heap's flags. */
BOOL hs_nt_heap_flags(HANDLE h, uint32_t* flags) {
  uint32_t signature;
  size_t sig_at = 2 * sizeof(void*), flags_at = sizeof(void*) == 8 ? 0x70 : 0x40;
  return heap_field(h, sig_at, &signature) && signature == NT_HEAP_SIGNATURE &&
         heap_field(h, flags_at, flags);
}

static uint32_t walk_refusal(void) {
  uint32_t flags;
  if (!hs_nt_heap_flags(heap, &flags)) return HS_TRIM_UNKNOWN_HEAP;
  return (flags & HEAP_FREE_CHECKING_ENABLED) ? HS_TRIM_DEBUG_HEAP : 0;
}

static uint64_t now_us(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER t;
  if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&t);
  /* Split so that QuadPart * 10^6 cannot overflow (10 days at 10 MHz). */
  uint64_t ticks = (uint64_t)t.QuadPart, f = (uint64_t)freq.QuadPart;
  return ticks / f * 1000000u + ticks % f * 1000000u / f;
}

/* Before a heap call: FALSE once exit has begun (the call is not made). */
static BOOL enter_heap(void) {
  InterlockedExchange(&in_heap, 1); /* full barrier before reading */
  if (stopping) {
    InterlockedExchange(&in_heap, 0);
    return FALSE;
  }
  return TRUE;
}

static void leave_heap(void) { InterlockedExchange(&in_heap, 0); }

/* A 64-bit stats field written whole (a 32-bit target's reader is 64-bit). */
static void add64(volatile uint64_t* field, uint64_t n) {
  hs_store64((volatile int64_t*)field, (int64_t)(*field + n));
}

/* reset_bytes has writers in every thread that frees old blocks. */
static void add_reset_bytes(uint64_t n) {
  InterlockedExchangeAdd64((volatile LONG64*)&out->reset_bytes, (LONG64)n);
}

BOOL hs_trim_on_free;

static BOOL worth_a_reset(size_t n) {
  return n != (size_t)-1 && n >= FREE_RESET_MIN && n < FREE_RESET_MAX;
}

void hs_trim_block(void* block, size_t n) {
  if (!worth_a_reset(n)) return;
  /* The heap writes its free-list links at the block's start and (Wine) a
   * back pointer at its end when it takes the block back: those pages
   * would fault straight in again. */
  uintptr_t lo = ((uintptr_t)block + MARGIN_HEAD + page - 1) & ~(page - 1);
  uintptr_t hi = ((uintptr_t)block + n - MARGIN_TAIL) & ~(page - 1);
  if (hi <= lo) return;
  DWORD last_error = GetLastError(); /* free() leaves it alone */
  if (VirtualAlloc((void*)lo, hi - lo, MEM_RESET, PAGE_READWRITE) == NULL) {
    out->error = GetLastError();
  } else {
    add_reset_bytes(hi - lo);
  }
  SetLastError(last_error);
}

/* TRUE if [lo, hi) was reset in the previous pass with the same extent. */
static BOOL seen_before(uintptr_t lo, uintptr_t hi) {
  seen_range* s = &seen[(lo / page * 2654435761u) % SEEN_SLOTS];
  BOOL again = s->lo == lo && s->hi == hi && s->pass + 1 == pass_no &&
               pass_no % FULL_PASS_EVERY != 0;
  s->lo = lo;
  s->hi = hi;
  s->pass = pass_no;
  return again;
}

/* Resets the whole pages inside a free block of a region whose committed
 * part ends at `end`; 1 if a reset was made. Wine reports the last free
 * block of a subheap as `commit_end - 64 - lpData` bytes, which wraps to
 * ~4 GiB in the DWORD when it starts less than 88 bytes before that end:
 * nothing past the region's committed end is ever reset. */
static unsigned reset_free(const PROCESS_HEAP_ENTRY* e, uintptr_t end) {
  uintptr_t data = (uintptr_t)e->lpData;
  /* The region entry may be from an earlier chunk: the memory's own
   * committed extent bounds it too. */
  MEMORY_BASIC_INFORMATION m;
  if (VirtualQuery((void*)data, &m, sizeof m) == 0 || m.State != MEM_COMMIT) {
    return 0;
  }
  uintptr_t committed = (uintptr_t)m.BaseAddress + m.RegionSize;
  if (committed < end) end = committed;
  if (e->cbData <= MARGIN_HEAD + MARGIN_TAIL || data >= end) return 0;
  uintptr_t size = end - data < e->cbData ? end - data : e->cbData;
  if (size <= MARGIN_HEAD + MARGIN_TAIL) return 0;
  uintptr_t lo = (data + MARGIN_HEAD + page - 1) & ~(page - 1);
  uintptr_t hi = (data + size - MARGIN_TAIL) & ~(page - 1);
  if (hi <= lo) return 0;
  if (seen != NULL && seen_before(lo, hi)) return 0;
  if (VirtualAlloc((void*)lo, hi - lo, MEM_RESET, PAGE_READWRITE) == NULL) {
    out->error = GetLastError();
    return 0;
  }
  add_reset_bytes(hi - lo);
  return 1;
}

/* Where a region's committed part ends. */
static uintptr_t region_end(const PROCESS_HEAP_ENTRY* r) {
  return (uintptr_t)r->lpData + r->Region.dwCommittedSize;
}

/* One walk over the heap, in chunks; FALSE if it had to give up. */
static BOOL walk_pass(void) {
  PROCESS_HEAP_ENTRY e, region;
  BOOL have_region = FALSE;
  unsigned done_in_region = 0, restarts = 0;
  uint64_t used_bytes = 0, free_bytes = 0;
  pass_no++;
  for (;;) {
    if (!enter_heap()) return FALSE;
    if (!HeapLock(heap)) {
      leave_heap();
      return FALSE;
    }
    if (stopping) { /* exit began while we waited for the lock (and its
                     * wait for us may have given up): no walk */
      HeapUnlock(heap);
      leave_heap();
      return FALSE;
    }
    uint64_t t0 = now_us();
    unsigned steps = 0, resets = 0, skip = done_in_region;
    BOOL end = FALSE, lost = FALSE;
    if (have_region) {
      e = region;
    } else {
      memset(&e, 0, sizeof e);
    }
    while (steps < CHUNK_STEPS && resets < CHUNK_RESETS) {
      if (!HeapWalk(heap, &e)) {
        end = GetLastError() == ERROR_NO_MORE_ITEMS;
        lost = !end;
        break;
      }
      if (e.wFlags & PROCESS_HEAP_REGION) {
        region = e;
        have_region = TRUE;
        done_in_region = skip = 0;
        continue;
      }
      if (skip > 0) { /* seen before this chunk began */
        skip--;
        continue;
      }
      done_in_region++;
      steps++;
      if (e.wFlags == 0) {
        free_bytes += e.cbData;
        resets += have_region ? reset_free(&e, region_end(&region)) : 0;
      } else if (e.wFlags & PROCESS_HEAP_ENTRY_BUSY) {
        used_bytes += e.cbData;
      }
    }
    HeapUnlock(heap);
    leave_heap();
    uint64_t held = now_us() - t0;
    out->chunks++;
    if (held > out->hold_max_us) out->hold_max_us = (uint32_t)held;
    if (end) {
      out->busy_kib = (uint32_t)(used_bytes >> 10);
      out->free_kib = (uint32_t)(free_bytes >> 10);
      return TRUE;
    }
    if (lost) {
      /* The region to continue in went away (an empty subheap is
       * released): start over. */
      if (++restarts > 3) return FALSE;
      have_region = FALSE;
      done_in_region = 0;
      used_bytes = free_bytes = 0;
    }
    SwitchToThread();
  }
}

/* Wine lists the newest subheap first, and a heap grows by subheaps of
 * twice the size each time (1 MiB up to 16 MiB): the first region's size,
 * one O(1) HeapWalk call, says how far the heap has grown. A thread costs
 * Wine about 1 MiB of resident memory (its kernel stack, measured), more
 * than a heap that never grew past its first subheaps could give back. */
static BOOL heap_worth_a_thread(void) {
  PROCESS_HEAP_ENTRY e;
  memset(&e, 0, sizeof e);
  if (!HeapWalk(heap, &e) || !(e.wFlags & PROCESS_HEAP_REGION)) return TRUE;
  return (SIZE_T)e.Region.dwCommittedSize + e.Region.dwUnCommittedSize >=
         MIN_NEWEST_REGION;
}

/* Windows' way, from _heapmin on the program's thread. */
static BOOL optimize_inline;

static void optimize_now(void) {
  if (out->state == HS_TRIM_UNSUPPORTED) return;
  optimize_info info = {1, 0};
  if (HeapSetInformation(heap, HEAP_CLASS_OPTIMIZE_RESOURCES, &info,
                         sizeof info)) {
    InterlockedExchangeAdd64((volatile LONG64*)&out->passes, 1);
  } else {
    set_state(HS_TRIM_UNSUPPORTED, GetLastError());
  }
}

static int64_t old_frees(void) { return hs_stats_total(HS_C_FREES_OLD); }

static DWORD WINAPI trim_thread(void* arg) {
  (void)arg;
  hs_stack_release();
  DWORD interval = FAST_MS;
  unsigned quiet = 0;
  int64_t seen_frees = -1;
  for (;;) {
    DWORD woke = WaitForSingleObject(wake, interval);
    if (stopping) return 0;
    int64_t frees = old_frees();
    BOOL asked = woke == WAIT_OBJECT_0;
    if (!asked && frees == seen_frees) {
      if (++quiet >= QUIET_POLLS && interval < SLOW_MS) {
        interval = interval * 2 > SLOW_MS ? SLOW_MS : interval * 2;
      }
      continue;
    }
    quiet = 0;
    interval = FAST_MS;
    uint32_t refusal = walk_refusal();
    if (refusal != 0) {
      set_state(refusal, 0);
      return 0;
    }
    /* A walk that had to give up is tried again at the next poll. */
    seen_frees = walk_pass() ? frees : -1;
    if (stopping) return 0;
    if (seen_frees < 0) continue;
    add64(&out->passes, 1);
  }
}

/* What hs_trim_arm decided: a trim state; HS_TRIM_WALK: the walk is
 * wanted (its thread may still find the heap too small). */
static uint32_t planned;

void hs_trim_arm(void) {
  out = hs_stats_trim();
  heap = hs_target.heap;
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  page = si.dwPageSize;
  if (hs_env_flag(L"HEAPSHIFT_NO_TRIM")) {
    planned = HS_TRIM_OFF;
  } else if (!running_on_wine() || hs_faults.trim_optimize) {
    planned = HS_TRIM_OPTIMIZE;
  } else if ((planned = walk_refusal()) == 0) {
    /* the hooks' part (hs_trim_block), armed before any hook runs */
    if (!hs_faults.trim_walk_only) hs_trim_on_free = TRUE;
    planned = hs_env_flag(L"HEAPSHIFT_TRIM_WALK") ? HS_TRIM_WALK
                                                  : HS_TRIM_FREE_RESET;
  }
}

void hs_trim_start(void) {
  switch (planned) {
  case HS_TRIM_OFF:
    hs_log("trim: HEAPSHIFT_NO_TRIM is set: the old heap keeps its pages");
    set_state(HS_TRIM_OFF, 0);
    return;
  case HS_TRIM_OPTIMIZE:
    optimize_inline = TRUE;
    set_state(HS_TRIM_OPTIMIZE, 0);
    hs_log("trim: HeapOptimizeResources on the CRT heap when the program "
           "calls _heapmin");
    return;
  case HS_TRIM_FREE_RESET:
    hs_log("trim: old blocks' whole pages reset as they are freed; no walk "
           "without HEAPSHIFT_TRIM_WALK=1 (unsafe for programs that call "
           "the heap with HEAP_NO_SERIALIZE)");
    set_state(HS_TRIM_FREE_RESET, 0);
    return;
  case HS_TRIM_WALK:
    break;
  default:
    hs_log("trim: the CRT heap %s: its pages stay",
           planned == HS_TRIM_DEBUG_HEAP
               ? "checks its free blocks (a debug heap)"
               : "is not laid out as Wine's heap");
    set_state(planned, 0);
    return;
  }
  if (!heap_worth_a_thread()) {
    hs_log("trim: the CRT heap never grew past a few MiB: no thread");
    set_state(HS_TRIM_SMALL_HEAP, 0);
    return;
  }
  seen = VirtualAlloc(NULL, SEEN_SLOTS * sizeof *seen,
                      MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  wake = CreateEventW(NULL, FALSE, FALSE, NULL);
  /* Created here, under the loader lock: it starts running once DllMain
   * has returned. 1 MiB reserved (MSVC's default): every DLL's thread
   * attach and detach code runs on it too, and Windows gives a thread no
   * more than it asks for (Wine at least 1 MiB); not the program's own
   * default, which some ask tens of MiB for, out of a 32-bit program's
   * address space. */
  HANDLE t = wake ? CreateThread(NULL, 1u << 20, trim_thread, NULL,
                                 STACK_SIZE_PARAM_IS_A_RESERVATION, NULL)
                  : NULL;
  if (t == NULL) {
    set_state(HS_TRIM_FAILED, GetLastError());
    return;
  }
  SetThreadPriority(t, THREAD_PRIORITY_BELOW_NORMAL);
  CloseHandle(t);
  set_state(HS_TRIM_WALK, 0);
  hs_log("trim: walking the CRT heap's free blocks (Wine)");
}

void hs_trim_request(void) {
  if (optimize_inline) {
    if (!stopping) optimize_now();
  } else if (wake != NULL) {
    SetEvent(wake);
  }
}

void hs_trim_stop(void) {
  InterlockedExchange(&stopping, 1); /* full barrier before reading */
  if (wake != NULL) SetEvent(wake);
  /* Out of its heap call within one call's time; bounded all the same
   * (by time: a Sleep(1) lasts a 15.6 ms tick on Windows). */
  uint64_t t0 = now_us();
  while (in_heap && now_us() - t0 < 2000000u) Sleep(1);
  if (in_heap) hs_log("trim: still in a heap call after 2 s at exit");
}
