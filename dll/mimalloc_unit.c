/* The one translation unit that compiles mimalloc (its src/static.c), so the
 * glue below may use mimalloc's internals.
 *
 * The hooks (hooks.c) and the old-heap helpers (migrate.c) are #included
 * at the end rather than compiled on their own, so that mimalloc's fast
 * paths (mi_malloc, mi_free, the ownership bitmap) inline into the hooks
 * (tasks/build_dll.ts leaves them out of the source list).
 *
 * Built with MI_PADDING=1: every block records its exact requested size, so
 * _msize reports what the program asked for, as UCRT's HeapSize does.
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
#include "static.c"
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
#else
  return mi_is_in_heap_region(p) ? TRUE : FALSE;
#endif
}

size_t hs_mi_size(void* p) { return mi_usable_size(p); }

void* hs_mi_alloc(size_t size, BOOL zero) {
  return zero ? mi_zalloc(size) : mi_malloc(size);
}

void hs_mi_free(void* p) { mi_free(p); }

void hs_mi_thread_done(void) { mi_thread_done(); }

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
#if MI_MALLOC_VERSION < 300 && defined(MI_PADDING) && MI_PADDING
  /* v2 with padding: the block's capacity is the page's usable block size;
   * the exact size lives in the padding's delta, right after it. */
  mi_page_t* page = _mi_ptr_page(p);
  size_t cap = mi_page_usable_block_size(page);
  if (size > cap) return FALSE;
  if (realloc_policy && size < cap / 2) return FALSE;
  if (size > UINT32_MAX || cap - size > UINT32_MAX) return FALSE;
  mi_padding_t* padding = (mi_padding_t*)((uint8_t*)p + cap);
  padding->delta = (uint32_t)(cap - size);
  return TRUE;
#else
  /* Elsewhere only an unchanged size is "in place". */
  return mi_usable_size(p) == size;
#endif
}

/* One unit with mimalloc (see the top of this file). */
#include "hooks.c"
#include "migrate.c"
