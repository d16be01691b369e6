/* The one translation unit that compiles mimalloc (its src/static.c), so the
 * glue below may use mimalloc's internals.
 *
 * The hooks (hooks.c) and the old-heap helpers (migrate.c) are #included
 * at the end rather than compiled on their own, so that mimalloc's fast
 * paths (mi_malloc, mi_free, the ownership bitmap) inline into the hooks
 * (tasks/build_dll.ts leaves them out of the source list).
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
#include "static.c"
#undef AdjustTokenPrivileges
#undef LookupPrivilegeValueA
#undef OpenProcessToken
#undef SystemFunction036
#undef FlsFree
#undef FlsSetValue
#undef FlsAlloc
#undef atexit

/* The counters' TLS index (heapshift.h hs_count), here in the hooks' unit so
 * the hot path reaches it without an indirection. */
DWORD hs_count_slot = TLS_OUT_OF_INDEXES;

#include "heapshift.h"

static inline BOOL hs_mi_owns_fast(const void* p);

int hs_mi_atexit_ignored(void(__cdecl* fn)(void)) {
  (void)fn;
  return 0;
}

void hs_mi_load(void) {
  static volatile LONG loaded = 0;
  if (InterlockedCompareExchange(&loaded, 1, 0) != 0) return;
  /* A CRT-initialised build (MSVC /MT calling _DllMainCRTStartup) may have
   * run mi_process_load already through its initialiser section. */
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
}

/* ---- v2: segments past the segment map -----------------------------------
 * v2's segment map (what mi_is_in_heap_region reads, besides its arena
 * list) ends at 40 TiB (v2.1; 48 TiB in v2.2). A segment the OS put higher
 * that is not in an arena is invisible to it, and mimalloc takes blocks
 * over 1 GiB straight from the OS, wherever it puts them: under Wine near
 * 128 TiB. So each block the hooks hand out past that line marks its
 * segment here, and a marked segment is checked against its header, read
 * with ReadProcessMemory: a mark can outlive its segment (mimalloc frees
 * segments without telling us), and a dead one reads as unmapped or fails
 * the cookie. A huge segment, one block, is unmarked when that block is
 * freed. v3's page map covers the whole address space. */
#if MI_MALLOC_VERSION < 300
#if defined(MI_MAX_ADDRESS) /* v2.1 */
#define HS_MI_MAP_END ((uintptr_t)MI_MAX_ADDRESS)
#else /* v2.2 */
#define HS_MI_MAP_END ((uintptr_t)MI_SEGMENT_MAP_MAX_ADDRESS)
#endif
/* User space ends at 128 TiB on x64; a 32-bit program under WOW64 has 4 GiB
 * when it is large-address-aware, and v2's 32-bit map stops at 2 GiB. */
#if HS_X64
#define HS_USER_SPACE_END ((uint64_t)1 << 47)
#define HS_MAP_OR(w, b) InterlockedOr64((volatile LONG64*)(w), (LONG64)(b))
#define HS_MAP_AND(w, b) InterlockedAnd64((volatile LONG64*)(w), (LONG64)(b))
#else
#define HS_USER_SPACE_END ((uint64_t)1 << 32)
#define HS_MAP_OR(w, b) InterlockedOr((volatile LONG*)(w), (LONG)(b))
#define HS_MAP_AND(w, b) InterlockedAnd((volatile LONG*)(w), (LONG)(b))
#endif
#define HS_WORD_BITS (8 * sizeof(uintptr_t))
#define HS_HIGH_SEGMENTS ((HS_USER_SPACE_END - HS_MI_MAP_END) / MI_SEGMENT_SIZE)
static volatile uintptr_t hs_high_map[HS_HIGH_SEGMENTS / HS_WORD_BITS + 1];

_Static_assert(offsetof(mi_segment_t, segment_slices) ==
                   offsetof(mi_segment_t, cookie) + sizeof(uintptr_t),
               "the ownership check reads cookie and segment_slices at once");

static inline BOOL hs_high_slot(const void* p, size_t* word, uintptr_t* bit) {
  uintptr_t seg = (uintptr_t)_mi_ptr_segment(p);
  if (seg < HS_MI_MAP_END || (uint64_t)seg >= HS_USER_SPACE_END) return FALSE;
  size_t i = (seg - HS_MI_MAP_END) / MI_SEGMENT_SIZE;
  *word = i / HS_WORD_BITS;
  *bit = (uintptr_t)1 << (i % HS_WORD_BITS);
  return TRUE;
}

static HS_NOINLINE void hs_high_mark(const void* p) {
  size_t w;
  uintptr_t b;
  if (hs_high_slot(p, &w, &b) && !(hs_high_map[w] & b)) {
    HS_MAP_OR(&hs_high_map[w], b);
  }
}

static HS_NOINLINE void hs_high_unmark(const void* p) {
  size_t w;
  uintptr_t b;
  if (hs_high_slot(p, &w, &b) &&
      _mi_ptr_segment(p)->kind == MI_SEGMENT_HUGE) {
    HS_MAP_AND(&hs_high_map[w], ~b);
  }
}

static BOOL hs_high_owns(const void* p) {
  size_t w;
  uintptr_t b;
  if (!hs_high_slot(p, &w, &b) || !(hs_high_map[w] & b)) return FALSE;
  uintptr_t seg = (uintptr_t)_mi_ptr_segment(p);
  struct {
    uintptr_t cookie;
    size_t slices;
  } h;
  DWORD last_error = GetLastError();
  BOOL read = ReadProcessMemory(GetCurrentProcess(),
                                (uint8_t*)seg + offsetof(mi_segment_t, cookie),
                                &h, sizeof h, NULL);
  SetLastError(last_error);
  return read && h.cookie == _mi_ptr_cookie((void*)seg) &&
         (uintptr_t)p < seg + h.slices * MI_SEGMENT_SLICE_SIZE;
}
#endif

/* Every block the hooks hand out passes here. */
static HS_ALWAYS_INLINE void hs_mi_note(const void* p) {
#if MI_MALLOC_VERSION < 300
  if (HS_LIKELY((uintptr_t)p < HS_MI_MAP_END)) return;
  hs_high_mark(p);
#else
  (void)p;
#endif
}

/* Frees a block of ours (hs_mi_owns). */
static HS_ALWAYS_INLINE void hs_mi_release(void* p) {
#if MI_MALLOC_VERSION < 300
  if mi_unlikely((uintptr_t)p >= HS_MI_MAP_END) hs_high_unmark(p);
#endif
  mi_free(p);
}

/* Ownership, inlined into the hooks (same unit). */
static inline BOOL hs_mi_owns_fast(const void* p) {
#if MI_MALLOC_VERSION >= 210 && MI_MALLOC_VERSION < 213 /* v2.1.0-v2.1.2 */
  /* The fast path of v2.1's _mi_segment_of (segment-map.c, compiled into
   * this unit): one bit per MI_SEGMENT_SIZE of address space, set where a
   * segment starts. Any block of a small/medium/large page hits it; huge
   * blocks past their first segment size and foreign pointers take the
   * full check below. Unlike _mi_segment_of, a set bit is not taken on
   * trust: a huge segment can be shorter than MI_SEGMENT_SIZE, and the
   * rest of its region may belong to someone else (the old heap), so p
   * must also lie inside the segment (whose header is mapped: its bit is
   * set). */
  uintptr_t seg = (uintptr_t)_mi_ptr_segment(p);
  if (HS_LIKELY(seg < MI_MAX_ADDRESS)) {
    uintptr_t index = seg / MI_SEGMENT_SIZE;
    uintptr_t mask = mi_atomic_load_relaxed(
        &mi_segment_map[index / MI_INTPTR_BITS]);
    if (HS_LIKELY(mask & ((uintptr_t)1 << (index % MI_INTPTR_BITS)))) {
      if (HS_LIKELY((uintptr_t)p <
                    seg + mi_segment_size((mi_segment_t*)seg))) {
        return TRUE;
      }
      return _mi_arena_contains(p) ? TRUE : FALSE;
    }
  }
#endif
  return hs_mi_owns(p);
}

BOOL hs_mi_owns(const void* p) {
#if MI_MALLOC_VERSION >= 340
  return mi_any_heap_contains(p) ? TRUE : FALSE;
#elif MI_MALLOC_VERSION >= 300
  return mi_is_in_heap_region(p) ? TRUE : FALSE;
#else
  return mi_is_in_heap_region(p) || hs_high_owns(p);
#endif
}

#if MI_PADDING
/* The padding mimalloc writes right after a block's capacity: a canary
 * keyed by page and block, then the distance back to the requested size. */
static inline uint32_t hs_mi_canary(const mi_page_t* page, const void* block) {
#if MI_MALLOC_VERSION >= 300
  return mi_ptr_encode_canary(page, block, page->keys);
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


void hs_mi_thread_done(void) { mi_thread_done(); }

void hs_mi_collect(void) {
  mi_collect(true);
#if MI_MALLOC_VERSION >= 210 && MI_MALLOC_VERSION < 213
  /* v2.1 purges its arenas only when the thread that initialised it
   * collects; _heapmin may come from any thread. */
  _mi_arena_collect(true, &mi_heap_get_default()->tld->stats);
#endif
}

BOOL hs_mi_thread_active(void) {
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

BOOL hs_mi_resize_in_place(void* p, size_t size, BOOL realloc_policy) {
  /* The capacity is the page's usable block size (without the padding). */
#if MI_PADDING
  mi_page_t* page = _mi_ptr_page(p);
  size_t cap = mi_page_usable_block_size(page);
#else
  size_t cap = mi_usable_size(p);
#endif
  if (size > cap) return FALSE;
  if (realloc_policy && size < cap / 2) return FALSE;
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
#include "migrate.c"
