/* The one translation unit that compiles mimalloc (v3: its src/static.c;
 * v2: static.c's sources one by one, see below), so the glue below may use
 * mimalloc's internals.
 *
 * The hooks (hooks.c) are #included at the end rather than compiled on
 * their own, so that mimalloc's fast paths (mi_malloc, mi_free, the
 * ownership lookup) inline into them (tasks/build_dll.ts leaves hooks.c out
 * of the source list).
 *
 * Built with MI_PADDING=1 (the default, see tasks/build_dll.ts --msize):
 * every block records its exact requested size, so _msize reports what the
 * program asked for, as UCRT's HeapSize does. With MI_PADDING=0 _msize is
 * the block's usable size (what mimalloc-redirect reports).
 *
 * mimalloc must never register mi_process_done with atexit: after the
 * process starts exiting other code still frees, and a torn-down allocator
 * must not see those frees.
 *
 * Nor does it get a fiber-local storage index. Its v2 static-library build
 * (src/prim/windows/prim.c) takes one at init (FlsAlloc with a thread-exit
 * callback) and stores every thread's heap in it on the thread's first
 * allocation (FlsSetValue); v3's default Windows init uses none. Thread
 * exit is ours (DLL_THREAD_DETACH), and an index it held would either run
 * a callback tearing heaps down before other DLLs' detach code or, freed,
 * be handed to the next FlsAlloc in the program (a driver, a plugin) while
 * mimalloc kept writing heap pointers into it. So its FLS calls compile to
 * nothing: no index, mi_fls_key stays FLS_OUT_OF_INDEXES. (<windows.h> is
 * included first, so the system's declarations keep their names.) */
#include <windows.h>
#if defined(__GNUC__) && !defined(__clang__)
/* v3 marks its internal functions visibility("hidden"), which a PE target
 * has no notion of: GCC warns once per function at the end of the unit. */
#pragma GCC diagnostic ignored "-Wattributes"
#endif
int hs_mi_atexit_ignored(void(__cdecl* fn)(void));
static inline DWORD hs_mi_no_fls_alloc(PFLS_CALLBACK_FUNCTION callback) {
  (void)callback;
  return FLS_OUT_OF_INDEXES;
}
static inline BOOL hs_mi_no_fls_set(DWORD index, void* value) {
  (void)index;
  (void)value;
  return TRUE;
}
static inline BOOL hs_mi_no_fls_free(DWORD index) {
  (void)index;
  return TRUE;
}
#define atexit hs_mi_atexit_ignored
#define FlsAlloc hs_mi_no_fls_alloc
#define FlsSetValue hs_mi_no_fls_set
#define FlsFree hs_mi_no_fls_free
/* No static advapi32 import: advapi.h. */
#include "advapi.h"
#define SystemFunction036 hs_advapi_random
#define OpenProcessToken hs_advapi_open_process_token
#define LookupPrivilegeValueA hs_advapi_lookup_privilege_value
#define AdjustTokenPrivileges hs_advapi_adjust_token_privileges
#include "mimalloc.h"
#if MI_MALLOC_VERSION < 300
/* mimalloc v2: static.c's sources one by one, in its order, so that some
 * of its calls reach heapshift first (below: "v2's segments", "v2's
 * retired pages" and "v2's wait for the abandoned list's readers"). They are named from mimalloc's root (the build passes
 * -I for it), since dll/ has a stats.c of its own. A function-like macro
 * around exactly the file that
 * makes the call renames the call and nothing else (its declaration and
 * definition live in other files). Both ways this can go wrong fail the
 * build: tasks/build_dll.ts checks that the mimalloc being built lists
 * exactly these files in its static.c (between the hs-static markers), and
 * a wrapper no call reaches is an unused static function, an error where
 * they are defined (HS_WRAPPERS_BEGIN). */
#include "mimalloc/internal.h"
static void hs_mi_page_retire(mi_page_t* page);
static void* hs_mi_segment_reserve(size_t size, size_t alignment,
                                   size_t align_offset, bool commit,
                                   bool allow_large, mi_arena_id_t arena,
                                   mi_memid_t* memid, mi_os_tld_t* tld);
static void hs_mi_segment_allocated(const mi_segment_t* segment);
static void hs_mi_segment_freed(const mi_segment_t* segment);
static BOOL hs_mi_readers_dead(void);
static BOOL threads_gone(void); /* hooks.c */
/* hs-static begin: static.c's includes, in order */
#include "mimalloc.h"
#include "mimalloc/internal.h"
#define _mi_page_retire(page) hs_mi_page_retire(page)
/* its one zeroing, of a calloc'd block. A huge page (a block of its own,
 * never reused) is skipped when its segment's memory came zero (fresh from
 * the system, or an arena's never used): v2.1.2 zeroes it whole, touching
 * every page of, say, a 1 GiB calloc that HeapAlloc's HEAP_ZERO_MEMORY
 * leaves untouched. Otherwise it is zeroed to its end: v2.1.2 zeroes
 * xblock_size bytes, which for a huge page is capped at 2 GiB
 * (MI_HUGE_BLOCK_SIZE), so past 2 GiB a block in memory an arena had
 * handed out before kept its old bytes (dll_huge_test.ts, both). */
#define _mi_memzero_aligned(p, n)                                   \
  do {                                                              \
    const mi_segment_t* s = _mi_page_segment(page);                 \
    if (s->kind != MI_SEGMENT_HUGE) {                               \
      _mi_memzero_aligned(p, n);                                    \
    } else if (!s->memid.initially_zero) {                          \
      _mi_memzero_aligned(p, mi_page_usable_block_size(page));      \
    }                                                               \
  } while (0)
#include "src/alloc.c"          // includes alloc-override.c
#undef _mi_memzero_aligned
#undef _mi_page_retire
#include "src/alloc-aligned.c"
#include "src/alloc-posix.c"
#include "src/arena.c"
#include "src/bitmap.c"
#include "src/heap.c"
#include "src/init.c"
#include "src/options.c"
#include "src/os.c"
#include "src/page.c"           // includes page-queue.c
#include "src/random.c"
#define _mi_arena_alloc_aligned(size, al, off, commit, large, arena, memid, \
                                tld)                                        \
  hs_mi_segment_reserve(size, al, off, commit, large, arena, memid, tld)
#define _mi_segment_map_allocated_at(segment) hs_mi_segment_allocated(segment)
#define _mi_segment_map_freed_at(segment) hs_mi_segment_freed(segment)
/* its one yield, in the wait for the abandoned list's readers: the wait
 * ends there once they are dead (the inner mi_atomic_yield is mimalloc's:
 * a macro does not expand itself) */
#define mi_atomic_yield()           \
  {                                 \
    if (hs_mi_readers_dead()) break; \
    mi_atomic_yield();              \
  }
#include "src/segment.c"
#undef mi_atomic_yield
#undef _mi_segment_map_freed_at
#undef _mi_segment_map_allocated_at
#undef _mi_arena_alloc_aligned
#include "src/segment-map.c"
#include "src/stats.c"
#include "src/prim/prim.c"
#if MI_OSX_ZONE
#include "src/prim/osx/alloc-override-zone.c"
#endif
/* hs-static end */

#else
/* v3's padding canary (the word after a block that tells an overrun, see
 * hs_mi_size) is keyed with its page's random keys, the second cache line
 * of the page, which malloc's fast path reads for nothing else; release
 * builds only compare it, for _msize. A hash of the block's address does
 * that too (an overrun still breaks it, but for 1 in 2^24 values): percall
 * 4% faster (bench/README.md). Every writer and reader (alloc.c, free.c,
 * hs_mi_canary) goes through this macro. */
#include "mimalloc.h"
#include "mimalloc/internal.h"
#if MI_MALLOC_VERSION >= 30400 && MI_MALLOC_VERSION < 30500
/* 3.4.x, read: alloc.c writes the canary and free.c decodes it with this
 * function and nothing else; another tree (--mimalloc DIR) keeps its own */
static inline uint32_t hs_mi_address_canary(const void* p) {
  /* the low byte 0, as mimalloc's (a string overrun stops at it) */
  return ((uint32_t)((uintptr_t)p >> 4) * 0x9E3779B1u) & 0xFFFFFF00u;
}
#define mi_ptr_encode_canary(page, p, keys) hs_mi_address_canary(p)
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic push
/* free.c's decoding still loads the keys it no longer uses */
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#if MI_MALLOC_VERSION >= 30400 && MI_MALLOC_VERSION < 30500
/* 3.4.x: static.c's sources one by one, as for v2 (tasks/build_dll.ts
 * checks the list against its static.c, between the hs-static3 markers),
 * so that arena.c's one wait for the abandoned map's readers reaches
 * heapshift first ("v3's wait for the abandoned map's readers", below),
 * and arena.c's, page-map.c's and theap.c's locks ("v3's locks a killed
 * thread holds"). */
static void hs_mi_clear_once_set(mi_bitmap_t* bitmap, size_t idx);
static bool hs_mi_lock_enter(mi_lock_t* lock);
static BOOL threads_gone(void); /* hooks.c */
/* mimalloc's mi_lock, but a lock hs_mi_lock_enter did not take (its holder
 * is dead) is not released either */
#define HS_MI_LOCK(lock)                                               \
  for (bool _hs_held = hs_mi_lock_enter(lock), _mi_go = true; _mi_go; \
       (_hs_held ? mi_lock_release(lock) : (void)0), _mi_go = false)
/* hs-static3 begin: static.c's includes, in order */
#include "mimalloc.h"
#include "mimalloc/internal.h"
#include "src/alloc.c"          // includes alloc-override.c and free.c
#include "src/alloc-aligned.c"
#include "src/alloc-posix.c"
#define mi_bitmap_clear_once_set(bitmap, idx) hs_mi_clear_once_set(bitmap, idx)
#pragma push_macro("mi_lock")
#undef mi_lock
#define mi_lock(lock) HS_MI_LOCK(lock)
#include "src/arena.c"
#pragma pop_macro("mi_lock")
#undef mi_bitmap_clear_once_set
#include "src/arena-meta.c"
#include "src/bitmap.c"
#include "src/heap.c"
#include "src/init.c"
#include "src/libc.c"
#include "src/options.c"
#include "src/os.c"
#include "src/page.c"           // includes page-queue.c
#pragma push_macro("mi_lock")
#undef mi_lock
#define mi_lock(lock) HS_MI_LOCK(lock)
#include "src/page-map.c"
#pragma pop_macro("mi_lock")
#include "src/random.c"
#include "src/stats.c"
#pragma push_macro("mi_lock")
#undef mi_lock
#define mi_lock(lock) HS_MI_LOCK(lock)
#include "src/theap.c"
#pragma pop_macro("mi_lock")
#include "src/threadlocal.c"
#include "src/prim/prim.c"
#if MI_OSX_ZONE
#include "src/prim/osx/alloc-override-zone.c"
#endif
/* hs-static3 end */
#else
#include "static.c"
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif
#undef AdjustTokenPrivileges
#undef LookupPrivilegeValueA
#undef OpenProcessToken
#undef SystemFunction036
#undef FlsFree
#undef FlsSetValue
#undef FlsAlloc
#undef atexit

/* The hooks' TLS indexes (hs_count in heapshift.h, hs_thread_heap below),
 * here in the hooks' unit so the hot path reaches them without an
 * indirection. */
DWORD hs_count_slot = TLS_OUT_OF_INDEXES;
DWORD hs_heap_slot = TLS_OUT_OF_INDEXES;

#include "heapshift.h"

int hs_mi_atexit_ignored(void(__cdecl* fn)(void)) {
  (void)fn;
  return 0;
}

/* mimalloc's deferred-free hook, the heartbeat of a thread's allocation
 * slow path: private counts are published from there, off the hot path. */
static void hs_mi_heartbeat(bool force, unsigned long long beat, void* arg) {
  (void)force;
  (void)beat;
  (void)arg;
  hs_count_heartbeat();
}

#if MI_MALLOC_VERSION >= 300 && MI_TLS_MODEL_DYNAMIC_WIN32
/* v3 keeps the thread's theap in two TLS indexes of its own, taken on
 * first use. One it cannot get (none left, or one past what the TEB's
 * expansion slots reach) it reports only as a message and records as TEB
 * slot 0: every later read and write of the thread's theap then goes to
 * NT_TIB.ExceptionList (x86: fs:[0], the head of the SEH chain; the next
 * exception crashes the process). So the indexes are taken here, before
 * mimalloc initialises, and a missing one fails the installation. */
/* Gives mimalloc's indexes back when it may not be used after all. */
static void mi_tls_give_back(void) {
  mi_tls_slots_done();
  /* mimalloc's initial slots: the last expansion entry, which reads NULL
   * (no theap) on every thread, so thread exit finds nothing to release. */
  _mi_theap_default_slot = _mi_theap_cached_slot = MI_TLS_INITIAL_SLOT;
  _mi_theap_default_expansion_slot = MI_TLS_INITIAL_EXPANSION_SLOT;
  _mi_theap_cached_expansion_slot = MI_TLS_INITIAL_EXPANSION_SLOT;
}

static BOOL mi_tls_ready(void) {
  mi_tls_slots_init();
  if (mi_tls_raw_index_default != TLS_OUT_OF_INDEXES &&
      mi_tls_raw_index_cached != TLS_OUT_OF_INDEXES) {
    return TRUE;
  }
  mi_tls_give_back();
  SetLastError(ERROR_NO_MORE_ITEMS);
  return FALSE;
}
#else
static void mi_tls_give_back(void) {}
static BOOL mi_tls_ready(void) { return TRUE; }
#endif

#if MI_MALLOC_VERSION >= 340 && !MI_PAGE_MAP_FLAT
/* v3.4's two-level page map, as the hooks read it (hs_mi_owner_of): its
 * top level covers every address below HS_PAGE_MAP_LIMIT and is committed
 * whole, so a lookup needs neither the bound nor the commit bits, two
 * loads of mimalloc's globals, on every free (percall 7%, churn 2%).
 * mimalloc commits it in 64 parts as they are first used; here, at load,
 * what it has not is committed (2 MiB at most, pages untouched) and its
 * commit bits set, as mi_page_map_ensure_committed does for one part.
 * FALSE: a lookup could read past what is committed; the last error is
 * the commit's, or left as it was when the map is not the size the bound
 * needs. */
#define HS_PAGE_MAP_LIMIT ((const void*)(MI_PU(1) << MI_MAX_VABITS))
static BOOL page_map_whole(void) {
  /* sized for another bound: mimalloc was set up before hs_mi_load could
   * fix it (MSVC: mimalloc's TLS callback runs before the entry point),
   * for fewer bits (MIMALLOC_MAX_VABITS, a program that is not large
   * address aware) */
  if (_mi_page_map == NULL || mi_page_map_max_address != HS_PAGE_MAP_LIMIT) {
    return FALSE;
  }
  const size_t part = MI_PAGE_MAP_ENTRIES_PER_CBIT;
  for (size_t bit = 0; bit * part < MI_PAGE_MAP_COUNT; bit++) {
    if (mi_page_map_is_committed(bit * part, NULL)) continue;
    if (!_mi_os_commit(&_mi_page_map[bit * part], part * sizeof(mi_submap_t),
                       NULL)) {
      return FALSE;
    }
    mi_atomic_or_acq_rel(&mi_page_map_commit, MI_ZU(1) << bit);
  }
  return TRUE;
}
#elif MI_MALLOC_VERSION >= 340 && MI_INTPTR_SIZE == 4
/* 32 bits: v3.4's flat page map, a byte per 32 KiB slice below its bound
 * (2 or 4 GiB: 64 or 128 KiB), which mimalloc commits whole when it starts
 * (under 1 MiB: no commit bits), so the hooks read it with the bound but
 * no commit check. FALSE: not so. */
static BOOL page_map_whole(void) {
  return _mi_page_map != NULL && mi_page_map_commit == NULL &&
         mi_page_map_memid.initially_committed;
}
#else
static BOOL page_map_whole(void) { return TRUE; }
#endif

/* 0 not yet, 1 loading or loaded, 2 refused */
static volatile LONG loaded = 0;
static unsigned refused_for = HS_R_NONE;
/* mimalloc is set up and its page map may be read (hs_mi_owns) */
static volatile BOOL ready = FALSE;

unsigned hs_mi_load(void) {
  LONG was = InterlockedCompareExchange(&loaded, 1, 0);
  if (was != 0) return was == 1 ? HS_R_NONE : refused_for;
  if (!mi_tls_ready()) {
    refused_for = HS_R_TLS;
    InterlockedExchange(&loaded, 2);
    return refused_for;
  }
#if MI_MALLOC_VERSION >= 300
  /* Out of memory, v3 sleeps and retries a commit for up to 400 ms; the
   * hooks turn to the CRT heap instead (hooks.c, alloc_block_retry), as
   * UCRT would, without waiting. MIMALLOC_RETRY_ON_OOM still sets it. */
  mi_option_set_default(mi_option_retry_on_oom, 0);
#endif
#if MI_MALLOC_VERSION >= 300 && MI_INTPTR_SIZE > 4
  /* The first arena's reservation: 64 MiB, not v3's 1 GiB, whose
   * bookkeeping alone stayed ~0.45 MB resident under Wine (percall
   * injected late: 11.23 -> 10.78 MB, churn -0.4, game -0.5; 2026-12-05).
   * mimalloc doubles the reservation every 8 arenas, so a large program
   * still gets large ones. MIMALLOC_ARENA_RESERVE still sets it. */
  mi_option_set_default(mi_option_arena_reserve, 64 * 1024); /* KiB */
#endif
#if MI_INTPTR_SIZE == 4
  /* 32 bits: the first arena's reservation 16 MiB, not 128 (v2 and v3).
   * It is address space taken at once from a program that may be short of
   * it (a 32-bit game late in its life, whose own large allocations need
   * it); a 4 MiB heap took 129 MiB of it (tests/win/
   * dll_va_reserve_test.ts). mimalloc doubles it every 8 arenas; larger
   * blocks than an arena holds come from the OS directly. */
  mi_option_set_default(mi_option_arena_reserve, 16 * 1024); /* KiB */
#endif
#if MI_MALLOC_VERSION >= 340 && !MI_PAGE_MAP_FLAT
  /* the page map's size and the hooks' bound agree (page_map_whole) */
  mi_option_set(mi_option_max_vabits, MI_MAX_VABITS);
#endif
  /* An MSVC build's mimalloc may have started itself already: 3.4 (and
   * 2.1.3+) register a TLS callback with MSVC-only pragmas, which the
   * loader runs before the entry point (GCC ignores them); options set
   * above come too late there. */
  if (_mi_preloading()) {
#if MI_MALLOC_VERSION >= 213
    /* Later v2 and v3: the loader hook is public and renamed; the build
     * defines MI_PRIM_HAS_PROCESS_ATTACH so mimalloc registers no
     * constructor or TLS callback of its own. */
    _mi_auto_process_init();
#else
    mi_process_load();
#endif
  }
  mi_process_init();
  SetLastError(0); /* a refusal's error: the commit's, else none */
  if (hs_faults.page_map || !page_map_whole()) {
    /* nothing was allocated from mimalloc yet, and nothing will be */
    DWORD err = GetLastError();
    mi_tls_give_back();
    SetLastError(err);
    refused_for = HS_R_PAGE_MAP;
    InterlockedExchange(&loaded, 2);
    return refused_for;
  }
  mi_register_deferred_free(hs_mi_heartbeat, NULL);
#if MI_MALLOC_VERSION < 300
  /* v2 makes the thread that initialises it the "main" thread (its TEB
   * address in _mi_heap_main.thread_id) and never abandons the main heap
   * when a main thread ends. Injected, that is a short-lived remote
   * thread: the next thread the system gives its TEB would inherit the
   * main heap, and what it allocated would stay owned by a dead thread
   * once it ends. So no thread is main (1 is no TEB address), and this
   * thread starts over with a heap of its own on its next allocation.
   * Nothing was allocated from the main heap yet. (v3 forgets a main
   * thread that ends.) */
  _mi_heap_main.thread_id = 1;
  _mi_heap_set_default_direct((mi_heap_t*)&_mi_heap_empty);
#endif
  ready = TRUE;
  return HS_R_NONE;
}

/* ---- v2's segments: ownership from a map that is never released ---------
 * Every v2 block lies in a segment, which starts on an MI_SEGMENT_SIZE
 * boundary. mimalloc's own segment map has a bit per such slot (up to
 * 40 TiB in v2.1) and, to tell where a segment ends, reads the segment's
 * header, as did heapshift's fast path. But mimalloc clears the bit and
 * then releases the segment (or an arena later decommits it), so a free or
 * _msize of an OLD block that races the release of a segment just below it
 * would read memory that is gone (a crash on Windows).
 *
 * So heapshift keeps a map of its own: per slot of the whole user address
 * space, the length in slices of the segment that starts there (0: none).
 * It is written when mimalloc allocates a segment, before any block of it
 * is handed out, and cleared when mimalloc frees one, before its memory
 * goes (segment.c's calls into segment-map.c reach the wrappers below
 * first). Two levels: a static top array of leaves, each leaf a 64 KiB
 * VirtualAlloc made on first use and never freed (made as segment.c gets
 * the segment's memory, which goes back when there is no leaf for it: an
 * allocation that fails, not a process that stops), so a lookup reads only
 * heapshift's own, always mapped memory: the top entry, the leaf entry. It
 * also covers what v2's map does not: segments above 40 TiB (blocks over
 * 1 GiB come straight from the OS, under Wine near 128 TiB). */
#if MI_MALLOC_VERSION < 300
#if defined(__GNUC__)
#define HS_WRAPPERS_BEGIN \
  _Pragma("GCC diagnostic push") \
      _Pragma("GCC diagnostic error \"-Wunused-function\"")
#define HS_WRAPPERS_END _Pragma("GCC diagnostic pop")
#else /* MSVC: C4505, unreferenced function with internal linkage */
#define HS_WRAPPERS_BEGIN \
  __pragma(warning(push)) __pragma(warning(error : 4505))
#define HS_WRAPPERS_END __pragma(warning(pop))
#endif

#if MI_INTPTR_SIZE == 8
#define HS_ADDRESS_BITS 47 /* x64 user space: 128 TiB */
#else
#define HS_ADDRESS_BITS 32 /* x86: 4 GiB with /LARGEADDRESSAWARE on WOW64 */
#endif
#define HS_SLOT_BITS (HS_ADDRESS_BITS - MI_SEGMENT_SHIFT)
#define HS_LEAF_BITS (HS_SLOT_BITS < 14 ? HS_SLOT_BITS : 14)
#define HS_LEAF_SLOTS ((uintptr_t)1 << HS_LEAF_BITS)
#define HS_LEAVES ((uintptr_t)1 << (HS_SLOT_BITS - HS_LEAF_BITS))
static uint32_t* volatile hs_seg_leaves[HS_LEAVES];

/* The leaf of `slot`; made when `create` (NULL only if that fails). */
static uint32_t* hs_seg_leaf(uintptr_t slot, BOOL create) {
  uint32_t* volatile* top = &hs_seg_leaves[slot >> HS_LEAF_BITS];
  uint32_t* leaf = *top;
  if (leaf != NULL || !create || hs_faults.seg_map) return leaf;
  leaf = VirtualAlloc(NULL, HS_LEAF_SLOTS * sizeof *leaf,
                      MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (leaf == NULL) return NULL;
  uint32_t* had = InterlockedCompareExchangePointer((void* volatile*)top,
                                                    leaf, NULL);
  if (had == NULL) return leaf;
  VirtualFree(leaf, 0, MEM_RELEASE); /* another thread was first */
  return had;
}

HS_WRAPPERS_BEGIN
/* The memory of a new segment, once the leaf its entry goes into exists.
 * Without one (64 KiB could not be committed, at the commit limit) the
 * memory goes back and mimalloc is out of memory, as it is when the
 * segment itself cannot be had: the hooks turn to the CRT heap. Its blocks
 * must never be handed out: free() would take them for old ones (HeapFree
 * of a mimalloc block, fatal on Windows).
 * The thread's last error is left as it was, either way: mimalloc asks for
 * its memory at a hinted address first (x64, 2 to 6 TiB) and, when
 * something else lives there, anywhere next; the first call's error
 * stayed behind a malloc that succeeded. (Failed, the hooks go on to the
 * CRT heap, whose own failure sets it.) */
static void* hs_mi_segment_reserve(size_t size, size_t alignment,
                                   size_t align_offset, bool commit,
                                   bool allow_large, mi_arena_id_t arena,
                                   mi_memid_t* memid, mi_os_tld_t* tld) {
  DWORD last_error = GetLastError();
  void* segment = _mi_arena_alloc_aligned(size, alignment, align_offset,
                                          commit, allow_large, arena, memid,
                                          tld);
  if (segment != NULL &&
      hs_seg_leaf((uintptr_t)segment >> MI_SEGMENT_SHIFT, TRUE) == NULL) {
    /* as segment.c rolls back a segment whose header cannot be committed */
    _mi_arena_free(segment, size, memid->initially_committed ? size : 0,
                   *memid, tld->stats);
    segment = NULL;
  }
  SetLastError(last_error);
  return segment;
}

static void hs_mi_segment_allocated(const mi_segment_t* segment) {
  uintptr_t slot = (uintptr_t)segment >> MI_SEGMENT_SHIFT;
  uint32_t* leaf = hs_seg_leaf(slot, FALSE);
  if (leaf == NULL) {
    /* made by hs_mi_segment_reserve, never freed: cannot happen */
    RaiseFailFastException(NULL, NULL, 0);
  }
  /* segment_slices is set later, by mi_segment_init; segment_size now */
  InterlockedExchange((volatile LONG*)&leaf[slot & (HS_LEAF_SLOTS - 1)],
                      (LONG)(segment->segment_size / MI_SEGMENT_SLICE_SIZE));
  _mi_segment_map_allocated_at(segment);
}

static void hs_mi_segment_freed(const mi_segment_t* segment) {
  _mi_segment_map_freed_at(segment);
  uintptr_t slot = (uintptr_t)segment >> MI_SEGMENT_SHIFT;
  uint32_t* leaf = hs_seg_leaf(slot, FALSE);
  if (leaf != NULL) {
    InterlockedExchange((volatile LONG*)&leaf[slot & (HS_LEAF_SLOTS - 1)], 0);
  }
}

/* ---- v2's retired pages ------------------------------------------------
 * When a free empties a page, v2.1 "retires" it: if it is the only page
 * of its size class it is kept (for 16 more rounds of the allocation slow
 * path) instead of freed. That bookkeeping runs on every free that empties
 * the page again, which is every free of a program that allocates and
 * frees one block at a time in an empty heap: the state of every heap
 * right after a late injection (a quarter of percall's time there).
 * mimalloc 3.2.7 stopped re-retiring a page that is already retired
 * (upstream commit 6b06e83, issue #1104); this is the same check. */
static void hs_mi_page_retire(mi_page_t* page) {
  if (page->retire_expire == 0) _mi_page_retire(page);
}

/* ---- v2's wait for the abandoned list's readers ------------------------
 * Before it frees a segment, v2 waits until no thread is popping a segment
 * off the abandoned list (a reader count, raised around the pop).
 * ExitProcess kills the other threads wherever they are, also inside that
 * window, and the count then never falls: after a direct _exit or
 * ExitProcess (no exit table runs, so the hooks still call mimalloc) a DLL
 * detached before heapshift that freed a block emptying its segment waited
 * forever (dll_exit_test.ts). Once the loader's shutdown has begun the
 * other threads have been told to end and a new one waits for the loader
 * lock before any code of its own: the wait ends without them (the count
 * is left as it is). */
static BOOL hs_mi_readers_dead(void) { return threads_gone(); }
HS_WRAPPERS_END
#endif

#if MI_MALLOC_VERSION >= 30400 && MI_MALLOC_VERSION < 30500
/* ---- v3's wait for the abandoned map's readers -------------------------
 * A thread looking for an abandoned page to reuse clears the page's bit in
 * the abandoned map, then tries to own the page, and sets the bit again
 * when a free owns it first; that free, emptying the page (or reclaiming
 * it), waits until the bit is set before it clears it for good
 * (mi_bitmap_clear_once_set). ExitProcess kills the other threads wherever
 * they are, also between the reader's clear and its set: after a direct
 * _exit or ExitProcess (no exit table runs, so the hooks still call
 * mimalloc) a DLL detached before heapshift whose free emptied that page
 * waited forever (dll_exit_test.ts). Once the loader's shutdown has begun
 * the other threads are gone, and the bit is set for the dead reader, as
 * it would have done: the page is this free's, which no reader owns. */
static void hs_mi_clear_once_set(mi_bitmap_t* bitmap, size_t idx) {
  while (!mi_bitmap_is_set(bitmap, idx)) {
    if (threads_gone()) {
      mi_bitmap_set(bitmap, idx);
      break;
    }
    _mi_prim_thread_yield();
  }
  mi_bitmap_clear_once_set(bitmap, idx);
}

/* ---- v3's locks a killed thread holds ----------------------------------
 * ExitProcess kills the other threads also while one holds a lock of
 * mimalloc's: after a direct _exit or ExitProcess a DLL detached before
 * heapshift that needed it waited forever (dll_exit_test.ts). Four of them
 * the exiting thread may need, and a dead holder leaves nothing there that
 * the one thread left cannot go on from, so once the loader's shutdown has
 * begun it goes on without the lock (and leaves it as it is: released, an
 * SRW lock would wake its waiters, dead threads too):
 * - the subprocess's arena_reserve_lock (arena.c) only keeps two threads
 *   from reserving an arena each at once: the arena list it adds to is
 *   lock-free (a slot claimed and not yet filled stays NULL, which every
 *   reader skips and the next add fills); a dead holder leaves at most
 *   reserved memory unused.
 * - the main heap's arena_pages_lock (arena.c, mi_heap_ensure_arena_pages,
 *   a heap's first page in an arena) guards the one store of the heap's
 *   record of its pages there: reloaded under it and, still none, for the
 *   main heap always the arena's own (&arena->pages_main), nothing
 *   allocated. A dead holder stored it or not; the store is the same. (Its
 *   other taker, heap.c's mi_heap_free, frees a heap other than the main
 *   one: heapshift makes none.)
 * - page-map.c's mi_page_map_lock (x64's two-level map) guards the adding
 *   of a part of the map (a submap, 512 MiB of addresses): reloaded under
 *   it and, still none, a new one from the OS is published with a
 *   compare-and-swap, which gives it back when another is there already,
 *   so the swap alone keeps one per place. A dead holder leaves at most a
 *   part it got and never published (64 KiB).
 * - the main heap's theaps_lock (theap.c) guards its list of theaps, which
 *   a thread's first allocation pushes onto (its exit removes it, under the
 *   loader lock: never killed there). A dead pusher leaves the list with a
 *   stale back link or without the rest past its theap; the push then
 *   relinks the head, and the list is walked only to delete a heap other
 *   than the main one (heapshift makes none).
 * A lock found held is waited for a moment first: the kill may not have
 * stopped its holder yet (the kernel's is asynchronous, Wine's a signal).
 * Only the call that finds it so waits: threads_gone has set exit_state
 * by then, and no later hook calls mimalloc (PROCESS_ENDING). Any other
 * lock is waited for as before: os_abandoned_pages_lock guards a list the
 * exiting thread may unlink from; the rest no hook's call takes at exit, or
 * no thread holds (dll/README.md). Off the hot path: these locks are taken
 * on slow paths only, and a free one costs a try instead of an acquire. */
/* Whether `lock` is one of the four above. */
static bool hs_mi_lock_dead_holder_ok(mi_lock_t* lock) {
  return lock == &subproc_main.arena_reserve_lock ||
         lock == &heap_main.arena_pages_lock ||
#if !MI_PAGE_MAP_FLAT
         lock == &mi_page_map_lock ||
#endif
         lock == &heap_main.theaps_lock;
}

static bool hs_mi_lock_enter(mi_lock_t* lock) {
  if (mi_lock_try_acquire(lock)) return true;
  if (!hs_mi_lock_dead_holder_ok(lock) || !threads_gone()) {
    mi_lock_acquire(lock);
    return true;
  }
  /* 20 ms by the clock, not 20 Sleep(1)s: those last 15.6 ms each on
   * Windows (its default timer), 312 ms on the process's exit */
  LARGE_INTEGER freq, start, now;
  QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&start);
  do {
    Sleep(1);
    if (mi_lock_try_acquire(lock)) return true;
    QueryPerformanceCounter(&now);
  } while (now.QuadPart - start.QuadPart < freq.QuadPart / 50);
  return false;
}
#endif

/* Ownership and free in one lookup. A free asks who owns its block and
 * then frees it; with v3.4's page map the answer (the block's page) is
 * what mi_free would look up again, so the hooks hand it to mimalloc's
 * inlined free path instead (hs_mi_free_owned). Elsewhere the owner is
 * just TRUE and the free is mi_free. */
#if MI_MALLOC_VERSION >= 340 && \
    (!MI_PAGE_MAP_FLAT || MI_INTPTR_SIZE == 4)
#define HS_MI_OWNER_IS_PAGE 1
typedef mi_page_t* hs_mi_owner;
#if MI_PAGE_MAP_FLAT
/* 32 bits: v3.4's flat page map, looked up as its _mi_safe_ptr_page does,
 * inline, without the commit bits: the map is committed whole
 * (page_map_whole). NULL: not mimalloc's. */
static HS_ALWAYS_INLINE hs_mi_owner hs_mi_owner_of(const void* p) {
  if (!HS_LIKELY(p < mi_page_map_max_address)) return NULL;
  return _mi_checked_ptr_page(p);
}
#else
/* v3.4's two-level page map (which is never released), looked up as its
 * _mi_safe_ptr_page does, inline, but with the bound a constant and no
 * commit bits: hs_mi_load has committed the whole top level
 * (page_map_whole). NULL: not mimalloc's. */
static HS_ALWAYS_INLINE hs_mi_owner hs_mi_owner_of(const void* p) {
  if (!HS_LIKELY(p < HS_PAGE_MAP_LIMIT)) return NULL;
  size_t sub_idx;
  const size_t idx = _mi_page_map_index(p, &sub_idx);
  mi_submap_t const sub = _mi_page_map_at(idx);
  return sub != NULL ? sub[sub_idx] : NULL;
}
#endif

static HS_ALWAYS_INLINE void hs_mi_free_owned(void* p, hs_mi_owner page) {
#if MI_MALLOC_VERSION >= 30400 && MI_MALLOC_VERSION < 30500
  /* 3.4.x's mi_free is exactly that lookup and mi_free_ex (checked); any
   * other version keeps calling mi_free */
  mi_free_ex(p, NULL, page);
#else
  (void)page;
  mi_free(p);
#endif
}
#else
typedef BOOL hs_mi_owner;
static HS_ALWAYS_INLINE BOOL hs_mi_owns_fast(const void* p);
static HS_ALWAYS_INLINE hs_mi_owner hs_mi_owner_of(const void* p) {
  return hs_mi_owns_fast(p);
}

static HS_ALWAYS_INLINE void hs_mi_free_owned(void* p, hs_mi_owner owner) {
  (void)owner;
  mi_free(p);
}
#endif

/* Ownership, inlined into the hooks (same unit). Never reads mimalloc's
 * memory: only maps that are never released. */
static HS_ALWAYS_INLINE BOOL hs_mi_owns_fast(const void* p) {
#if MI_MALLOC_VERSION < 300
  uintptr_t seg = (uintptr_t)_mi_ptr_segment(p);
  uintptr_t slot = seg >> MI_SEGMENT_SHIFT;
#if HS_ADDRESS_BITS < 8 * MI_INTPTR_SIZE
  if (!HS_LIKELY(slot < ((uintptr_t)1 << HS_SLOT_BITS))) return FALSE;
#endif
  const uint32_t* leaf = hs_seg_leaves[slot >> HS_LEAF_BITS];
  if (!HS_LIKELY(leaf != NULL)) return FALSE;
  uintptr_t slices = *(const volatile uint32_t*)&leaf[slot & (HS_LEAF_SLOTS - 1)];
  /* p > seg always: _mi_ptr_segment rounds p - 1 down */
  return (uintptr_t)p - seg < slices * MI_SEGMENT_SLICE_SIZE;
#elif HS_MI_OWNER_IS_PAGE
  return hs_mi_owner_of(p) != NULL;
#else
  /* v3's page map: of its own, never released */
  return mi_is_in_heap_region(p) ? TRUE : FALSE;
#endif
}

/* The hooks run only once mimalloc is set up; an export may ask before,
 * or after it was refused (page_map_whole). */
BOOL hs_mi_owns(const void* p) { return ready && hs_mi_owns_fast(p); }

/* ---- the thread's heap ----------------------------------------------------
 * mimalloc finds the thread's default heap in a `__thread` variable, which
 * mingw GCC compiles to emulated TLS: a call (tls.c) on every allocation.
 * v2's hooks keep the heap in a TLS slot of their own instead, read from
 * the TEB inline. The slot is set once the thread has a heap of its own
 * and cleared in hs_mi_thread_done, the one place a thread's heap goes
 * away in this build (mimalloc's FLS callback and atexit are compiled
 * out). v3 keeps its thread heap in a Win32 TLS slot of its own already. */
#if MI_MALLOC_VERSION < 300
static HS_NOINLINE mi_heap_t* hs_thread_heap_slow(void) {
  mi_heap_t* heap = mi_prim_get_default_heap();
  if (mi_heap_is_initialized(heap)) {
    DWORD last_error = GetLastError();
    TlsSetValue(hs_heap_slot, heap);
    SetLastError(last_error);
  }
  return heap; /* an empty heap sets the thread up on its first allocation */
}

static HS_ALWAYS_INLINE mi_heap_t* hs_thread_heap(void) {
  mi_heap_t* heap = (mi_heap_t*)hs_tls_slot(hs_heap_slot);
  return HS_LIKELY(heap != NULL) ? heap : hs_thread_heap_slow();
}

/* A new block of n bytes (zeroed when `zero`), or NULL. */
static HS_ALWAYS_INLINE void* hs_mi_alloc(size_t n, BOOL zero) {
  mi_heap_t* heap = hs_thread_heap();
  return zero ? mi_heap_zalloc(heap, n) : mi_heap_malloc(heap, n);
}
#elif MI_MALLOC_VERSION >= 340
static HS_ALWAYS_INLINE void* hs_mi_alloc(size_t n, BOOL zero) {
  /* mi_malloc's body, its small-block fast path forced inline */
  return _mi_theap_malloc_zero_ex(_mi_theap_default(), n, zero, 0, NULL);
}
#else
static HS_ALWAYS_INLINE void* hs_mi_alloc(size_t n, BOOL zero) {
  return zero ? mi_zalloc(n) : mi_malloc(n);
}
#endif

#if MI_PADDING
/* The padding mimalloc writes right after a block's capacity: a canary
 * keyed by page and block, then the distance back to the requested size. */
static inline uint32_t hs_mi_canary(const mi_page_t* page, const void* block) {
#if MI_MALLOC_VERSION >= 300
  return mi_ptr_encode_canary(page, block, page->keys); /* 3.4: the macro */
#else
  return (uint32_t)mi_ptr_encode(page, block, page->keys);
#endif
}
#endif

size_t hs_mi_size(void* p) {
#if MI_PADDING
  const mi_page_t* page = _mi_ptr_page(p);
  size_t bsize, delta;
  if (HS_LIKELY(mi_page_decode_padding(page, (const mi_block_t*)p, &delta,
                                       &bsize) &&
                delta < bsize)) {
    return bsize - delta;
  }
  /* A write past the requested size broke the canary (mimalloc itself
   * would say 0): the exact size is lost, so the whole block counts as
   * the program's data. */
  return bsize + MI_PADDING_SIZE;
#else
  return mi_usable_size(p);
#endif
}

size_t hs_mi_capacity(void* p) { return mi_page_block_size(_mi_ptr_page(p)); }


void hs_mi_thread_done(void) {
  if (hs_heap_slot != TLS_OUT_OF_INDEXES) TlsSetValue(hs_heap_slot, NULL);
  mi_thread_done();
}

void hs_mi_collect(void) {
  mi_collect(true);
#if MI_MALLOC_VERSION >= 210 && MI_MALLOC_VERSION < 213
  /* v2.1 purges its arenas only when the thread that initialised it
   * collects; _heapmin may come from any thread. */
  _mi_arena_collect(true, &mi_heap_get_default()->tld->stats);
#endif
}

BOOL hs_mi_thread_active(void) {
  /* Before mimalloc initialises, its TLS slots are placeholders: the
   * v3 one reads an expansion entry that a program may have taken. */
  if (loaded != 1) return FALSE;
#if MI_MALLOC_VERSION >= 300
  /* v3 keeps the thread's heap in a Win32 TLS slot of its own. */
  return mi_theap_is_initialized(_mi_theap_default()) ? TRUE : FALSE;
#else
  /* v2 in a __thread variable: without TLS blocks it was never set (and
   * reading it would make them). */
  return hs_tls_thread_active() &&
         mi_heap_is_initialized(mi_prim_get_default_heap());
#endif
}

unsigned hs_mi_version(void) { return (unsigned)MI_MALLOC_VERSION; }

BOOL hs_mi_resize_in_place(void* p, size_t size, BOOL limit_waste) {
  /* The capacity is the page's usable block size (without the padding). */
#if MI_PADDING
  mi_page_t* page = _mi_ptr_page(p);
  size_t cap = mi_page_usable_block_size(page);
#else
  size_t cap = mi_usable_size(p);
#endif
  if (size > cap) return FALSE;
  if (limit_waste && size < cap / 2) return FALSE;
#if MI_PADDING
  /* The new exact size goes into the padding, with a fresh canary: an
   * earlier overrun's damage is repaired. */
  if (cap - size > UINT32_MAX) return FALSE;
  mi_padding_t* padding = (mi_padding_t*)((uint8_t*)p + cap);
  padding->canary = hs_mi_canary(page, p);
  padding->delta = (uint32_t)(cap - size);
#endif
  return TRUE;
}

/* One unit with mimalloc (see the top of this file). */
#include "hooks.c"
