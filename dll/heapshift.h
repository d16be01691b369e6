/* heapshift: takes over a running program's UCRT allocator and hands it to
 * mimalloc. Shared declarations of the hook DLL.
 *
 * The hooked surface is listed ONCE, in HS_HOOKS below. The stats block
 * (shared memory `Local\heapshift-<pid>`) is described in HS_STATS_* and in
 * dll/STATS.md; keep both in step. */
#ifndef HEAPSHIFT_H
#define HEAPSHIFT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <windows.h>
#if defined(_MSC_VER) && defined(_M_IX86) && !defined(__clang__)
#include <emmintrin.h> /* hs_store64 */
#endif

#define HEAPSHIFT_VERSION_MAJOR 0
#define HEAPSHIFT_VERSION_MINOR 1
#define HEAPSHIFT_VERSION_PATCH 0
#define HEAPSHIFT_VERSION                                    \
  ((HEAPSHIFT_VERSION_MAJOR << 16) | (HEAPSHIFT_VERSION_MINOR << 8) | \
   HEAPSHIFT_VERSION_PATCH)

/* ------------------------------------------------------------------------
 * The hooked surface.
 *
 * X(name, hook, flags): `name` is the ucrtbase export, `hook` our
 * replacement, `flags` a combination of
 *   HS_REQUIRED  installation is refused (nothing is patched) unless this
 *                entry can be patched;
 *   HS_BASE      the export is a wrapper over a non-exported `_base`
 *                implementation (`_msize_base`, `_expand_base`,
 *                `_recalloc_base`) that the CRT calls directly: the wrapper
 *                is decoded and the implementation patched as well.
 * Exports the loaded ucrtbase lacks (the `_o_` variants, say) are skipped.
 * Several names may reach the same code (aliases, `jmp` wrappers): each code
 * site is patched once. Functions whose UCRT code only calls entry points
 * hooked here are left alone (`_dupenv_s`/`_wdupenv_s`: calloc under the
 * environment lock), so their blocks still come from mimalloc.
 * ---------------------------------------------------------------------- */
#define HS_REQUIRED 1u
#define HS_BASE 2u

#define HS_HOOKS(X)                                                  \
  X(malloc, hs_malloc, HS_REQUIRED)                                  \
  X(calloc, hs_calloc, HS_REQUIRED)                                  \
  X(realloc, hs_realloc, HS_REQUIRED)                                \
  X(free, hs_free, HS_REQUIRED)                                      \
  X(_malloc_base, hs_malloc, HS_REQUIRED)                            \
  X(_calloc_base, hs_calloc, HS_REQUIRED)                            \
  X(_realloc_base, hs_realloc, HS_REQUIRED)                          \
  X(_free_base, hs_free, HS_REQUIRED)                                \
  X(_msize, hs_msize, HS_REQUIRED | HS_BASE)                         \
  X(_expand, hs_expand, HS_REQUIRED | HS_BASE)                       \
  X(_recalloc, hs_recalloc, HS_REQUIRED | HS_BASE)                   \
  X(_strdup, hs_strdup, 0)                                           \
  X(_wcsdup, hs_wcsdup, 0)                                           \
  X(_mbsdup, hs_strdup, 0) /* same semantics; Wine aliases them */                                           \
  X(_aligned_malloc, hs_aligned_malloc, 0)                           \
  X(_aligned_realloc, hs_aligned_realloc, 0)                         \
  X(_aligned_recalloc, hs_aligned_recalloc, 0)                       \
  X(_aligned_msize, hs_aligned_msize, 0)                             \
  X(_aligned_free, hs_aligned_free, 0)                               \
  X(_aligned_offset_malloc, hs_aligned_offset_malloc, 0)             \
  X(_aligned_offset_realloc, hs_aligned_offset_realloc, 0)           \
  X(_aligned_offset_recalloc, hs_aligned_offset_recalloc, 0)         \
  X(_heapmin, hs_heapmin, 0)                                         \
  X(_o_malloc, hs_malloc, 0)                                         \
  X(_o_calloc, hs_calloc, 0)                                         \
  X(_o_realloc, hs_realloc, 0)                                       \
  X(_o_free, hs_free, 0)                                             \
  X(_o__malloc_base, hs_malloc, 0)                                   \
  X(_o__calloc_base, hs_calloc, 0)                                   \
  X(_o__realloc_base, hs_realloc, 0)                                 \
  X(_o__free_base, hs_free, 0)                                       \
  X(_o__msize, hs_msize, HS_BASE)                                    \
  X(_o__expand, hs_expand, HS_BASE)                                  \
  X(_o__recalloc, hs_recalloc, HS_BASE)                              \
  X(_o__strdup, hs_strdup, 0)                                        \
  X(_o__wcsdup, hs_wcsdup, 0)                                        \
  X(_o__mbsdup, hs_strdup, 0)                                        \
  X(_o__aligned_malloc, hs_aligned_malloc, 0)                        \
  X(_o__aligned_realloc, hs_aligned_realloc, 0)                      \
  X(_o__aligned_recalloc, hs_aligned_recalloc, 0)                    \
  X(_o__aligned_msize, hs_aligned_msize, 0)                          \
  X(_o__aligned_free, hs_aligned_free, 0)                            \
  X(_o__aligned_offset_malloc, hs_aligned_offset_malloc, 0)          \
  X(_o__aligned_offset_realloc, hs_aligned_offset_realloc, 0)        \
  X(_o__aligned_offset_recalloc, hs_aligned_offset_recalloc, 0)     \
  X(_o__heapmin, hs_heapmin, 0)

/* The replacements (hooks.c). Exact UCRT semantics; see the comments there. */
void* __cdecl hs_malloc(size_t size);
void* __cdecl hs_calloc(size_t count, size_t size);
void* __cdecl hs_realloc(void* block, size_t size);
void __cdecl hs_free(void* block);
size_t __cdecl hs_msize(void* block);
void* __cdecl hs_expand(void* block, size_t size);
void* __cdecl hs_recalloc(void* block, size_t count, size_t size);
char* __cdecl hs_strdup(const char* s);
wchar_t* __cdecl hs_wcsdup(const wchar_t* s);
unsigned char* __cdecl hs_mbsdup(const unsigned char* s);
void* __cdecl hs_aligned_malloc(size_t size, size_t align);
void* __cdecl hs_aligned_realloc(void* block, size_t size, size_t align);
void* __cdecl hs_aligned_recalloc(void* block, size_t count, size_t size,
                                  size_t align);
size_t __cdecl hs_aligned_msize(void* block, size_t align, size_t offset);
void __cdecl hs_aligned_free(void* block);
void* __cdecl hs_aligned_offset_malloc(size_t size, size_t align,
                                       size_t offset);
void* __cdecl hs_aligned_offset_realloc(void* block, size_t size, size_t align,
                                        size_t offset);
void* __cdecl hs_aligned_offset_recalloc(void* block, size_t count,
                                         size_t size, size_t align,
                                         size_t offset);
int __cdecl hs_heapmin(void);

/* ------------------------------------------------------------------------
 * What the hooks need from the target's CRT (resolved from the loaded
 * ucrtbase, never from our own CRT: errno, the new-handler and the
 * invalid-parameter handler live there).
 * ---------------------------------------------------------------------- */
typedef struct hs_crt {
  HMODULE ucrtbase;
  HANDLE heap; /* _get_heap_handle(): where old blocks live */
  int*(__cdecl* errno_fn)(void);
  void(__cdecl* invalid_parameter_noinfo)(void);
  int(__cdecl* query_new_mode)(void);
  int(__cdecl* callnewh)(size_t);
  /* Header layout of OLD `_aligned_*` blocks, probed once before patching:
   * UCRT's (header = P + gap + max(align, P) - 1) or Wine's
   * (header = max(align, P) + P, whatever the offset); P is the pointer
   * size. */
  BOOL old_aligned_wine_layout;
} hs_crt;
extern hs_crt hs_target;

/* HEAPSHIFT_NO_MIGRATE=1 (read at load): the realloc family resizes old
 * blocks on the old heap instead of moving them into mimalloc. */
extern BOOL hs_no_migrate;

/* Resolves hs_target from the loaded ucrtbase; FALSE if it is not there.
 * Also registers an atexit entry there (see "process exit" in hooks.c). */
BOOL hs_crt_resolve(void);
/* DLL_PROCESS_DETACH: every other thread is gone, mimalloc is off limits. */
void hs_process_detach(void);

/* ------------------------------------------------------------------------
 * mimalloc glue (mimalloc_unit.c, the one translation unit that includes
 * mimalloc's static.c, so it may use mimalloc's internals).
 * ---------------------------------------------------------------------- */
/* mi_process_load() + mi_process_init(). Idempotent. (mimalloc never takes
 * an FLS index in this build; thread exit is DLL_THREAD_DETACH's.) */
void hs_mi_load(void);
/* Ownership: O(1), never touches foreign memory. */
BOOL hs_mi_owns(const void* p);
/* Size of a mimalloc block, what _msize reports: the exact size
 * asked for (MI_PADDING builds; the whole block once a write past that
 * size damaged the record), else the usable size. Never 0. */
size_t hs_mi_size(void* p);
/* Every byte of the block, padding included: what a move carries over, so
 * writes past the requested size inside the block survive it. */
size_t hs_mi_capacity(void* p);
/* Resizes a mimalloc block in place when the new size fits its capacity
 * (and wastes at most half of it); returns FALSE when it does not. */
BOOL hs_mi_resize_in_place(void* p, size_t size, BOOL allow_shrink_waste);
void hs_mi_thread_done(void);
/* This thread has a mimalloc heap (mi_thread_done would release it). */
BOOL hs_mi_thread_active(void);
/* Gives back what mimalloc holds but does not use (_heapmin). */
void hs_mi_collect(void);
unsigned hs_mi_version(void);

/* ------------------------------------------------------------------------
 * Old-heap blocks (migrate.c).
 * ---------------------------------------------------------------------- */
size_t hs_old_size(void* p);             /* HeapSize, (size_t)-1 on error */
BOOL hs_old_free(void* p);               /* HeapFree */
void* hs_old_shrink(void* p, size_t n);  /* HeapReAlloc in place, or NULL */
void* hs_old_alloc(size_t n);            /* HeapAlloc (HEAPSHIFT_NO_MIGRATE) */
void* hs_old_realloc(void* p, size_t n); /* HeapReAlloc, may move */
/* Reads the raw block pointer of a UCRT `_aligned_*` block: the pointer-
 * sized word below the block rounded down to a pointer's alignment. */
static inline void* hs_aligned_raw(void* p) {
  const uintptr_t w = sizeof(uintptr_t);
  return *(void**)((((uintptr_t)p) & ~(w - 1)) - w);
}

/* ------------------------------------------------------------------------
 * Stats (stats.c): shared memory `Local\heapshift-<pid>`, layout v1
 * (`Local\heapshift-<pid>-<created>` when a dead process with the same pid
 * left an unusable block under that name; see STATS.md).
 * All integers little-endian; offsets in bytes from the start.
 *
 *   0  u32 magic           0x54534853 ("SHST" in memory order: 53 48 53 54)
 *   4  u32 layout_version  1
 *   8  u32 total_size      69632 (readers take sizes from the header)
 *  12  u32 state           0 loading, 1 live, 2 disabled, 3 failed
 *  16  u32 pid
 *  20  u32 mimalloc_version  MI_MALLOC_VERSION (212 = v2.1.2)
 *  24  u32 dll_version     major<<16 | minor<<8 | patch
 *  28  u32 hooked_count    number of names in the names area
 *  32  u32 patch_sites     number of distinct code sites patched
 *  36  u32 stripe_count    1024
 *  40  u32 stripe_offset   4096
 *  44  u32 names_offset    128
 *  48  u32 names_size      3968
 *  52  u32 error           Win32 error of the call that failed, else 0
 *  56  u64 hooks_live_unix_ms   when the jumps went in (0 before)
 *  64  u64 hooks_live_filetime  same instant, FILETIME (100 ns since 1601)
 *  72  u32 reason          heapshift's reason (enum hs_reason), else 0
 *  76  u32 reserved
 *  80  u64 process_created the process's creation time (FILETIME): tells
 *                          this process's block from a dead one's
 *  88  trim fields (hs_trim_stats, written by trim.c's thread only):
 *   88  u32 trim_state     enum hs_trim_state
 *   92  u32 trim_error     Win32 error of the trimmer's last failed call
 *   96  u64 trim_passes    passes over the old heap completed
 *  104  u64 trim_reset_bytes  bytes of whole free pages reset (Wine's walk)
 *  112  u32 trim_chunks    times the heap lock was taken for a chunk
 *  116  u32 trim_hold_max_us  longest of those holds, microseconds
 *  120  u32 trim_busy_kib  the CRT heap's busy blocks at the last walk, KiB
 *  124  u32 trim_free_kib  its free blocks at the last walk, KiB
 * 128  names: NUL-terminated ASCII export names, one after the other,
 *      ended by an empty name
 * 4096 stripes[1024], 64 bytes each, eight u64; a reader sums the
 *      counters over all stripes (how threads write them: hs_count below):
 *        +0 allocs          blocks handed out by the hooks (every kind)
 *        +8 frees           blocks released through the hooks (every kind)
 *       +16 frees_old       of which old-heap (pre-takeover) blocks
 *       +24 migrations      old blocks moved into mimalloc by a realloc-kind
 *       +32 migrated_bytes  bytes copied by those migrations
 *       +40 expand_rejects  _expand calls that returned NULL (no room)
 *       +48 reserved
 *       +56 owner           id of the thread that owns the stripe, 0 if
 *                           free (not a counter: readers do not sum it)
 * ---------------------------------------------------------------------- */
#define HS_STATS_MAGIC 0x54534853u
#define HS_STATS_LAYOUT 1u
#define HS_STATS_STRIPES 1024u
#define HS_STATS_STRIPE_OFFSET 4096u
#define HS_STATS_SIZE (HS_STATS_STRIPE_OFFSET + 64u * HS_STATS_STRIPES)
#define HS_STATS_NAMES_OFFSET 128u
#define HS_STATS_NAMES_SIZE (HS_STATS_STRIPE_OFFSET - HS_STATS_NAMES_OFFSET)

enum hs_state {
  HS_STATE_LOADING = 0,
  HS_STATE_LIVE = 1,
  HS_STATE_DISABLED = 2,
  HS_STATE_FAILED = 3
};

/* heapshift's own reasons (header `reason`), apart from Win32 error
 * numbers (header `error`, the failed call's GetLastError()). */
enum hs_reason {
  HS_R_NONE = 0,
  HS_R_NO_UCRT = 1,          /* ucrtbase.dll or a required export missing */
  HS_R_NO_ROOM = 2,          /* no room to patch a required function */
  HS_R_SHARED_SITE = 3,      /* two hooks share one code site */
  HS_R_OVERLAP = 4,          /* overlapping sites */
  HS_R_TOO_MANY_SITES = 5,
  HS_R_THREAD_IN_SITE = 6,   /* a thread stayed in (or returns into) a site */
  HS_R_READBACK = 7,         /* a written jump did not read back */
  HS_R_PROTECT = 8,          /* VirtualProtect refused (ACG, code integrity) */
  HS_R_THREAD_OPEN = 9,      /* a thread could not be opened */
  HS_R_THREAD_SUSPEND = 10,  /* a thread could not be suspended */
  HS_R_THREAD_CONTEXT = 11,  /* a thread's registers could not be read */
  HS_R_TOO_MANY_THREADS = 12,
  HS_R_THREAD_SNAPSHOT = 13, /* the thread snapshot failed */
  HS_R_TLS = 14,             /* no TLS index for heapshift's own state */
  HS_R_UNSAFE_SITE = 15,     /* a branch lands inside a site, or its code
                                cannot be decoded */
  HS_R_RESTORE = 16          /* a page's protection could not be restored */
};

/* ---- trimming the old heap (trim.c) -------------------------------------
 * A thread started once the hooks are live gives the CRT heap's free pages
 * back while old blocks leave it (Wine: MEM_RESET of whole pages inside
 * free blocks under the heap lock; Windows: HeapOptimizeResources). */
enum hs_trim_state {
  HS_TRIM_NONE = 0,         /* not started (hooks not live) */
  HS_TRIM_WALK = 1,         /* running: walks the heap's free blocks */
  HS_TRIM_OPTIMIZE = 2,     /* running: HeapOptimizeResources */
  HS_TRIM_OFF = 3,          /* HEAPSHIFT_NO_TRIM=1 */
  HS_TRIM_DEBUG_HEAP = 4,   /* refused: the heap checks its free blocks */
  HS_TRIM_UNKNOWN_HEAP = 5, /* refused: not laid out as Wine's heap */
  HS_TRIM_UNSUPPORTED = 6,  /* HeapOptimizeResources refused (error) */
  HS_TRIM_FAILED = 7,       /* the thread could not be started (error) */
  HS_TRIM_SMALL_HEAP = 8,   /* not started: the heap is too small to pay */
  HS_TRIM_WALK_OFF = 9      /* Wine without HEAPSHIFT_TRIM_WALK=1 */
};

typedef struct hs_trim_stats {
  uint32_t state;
  uint32_t error;
  uint64_t passes;
  uint64_t reset_bytes;
  uint32_t chunks;
  uint32_t hold_max_us;
  uint32_t busy_kib;
  uint32_t free_kib;
} hs_trim_stats;

/* Once the hooks are live (entry.c): starts the trimmer, or records why
 * not. */
void hs_trim_start(void);
/* Asks for a pass now (_heapmin); never waits. */
void hs_trim_request(void);
/* exit() has begun (hooks.c): the trimmer makes no more heap calls, and
 * this returns once it is out of the one it may be in. */
void hs_trim_stop(void);
/* The stats header's trim fields (stats.c). */
volatile hs_trim_stats* hs_stats_trim(void);
/* A switch set in the environment, and not "0" (entry.c). */
BOOL hs_env_flag(const wchar_t* name);

typedef struct hs_stats_header {
  uint32_t magic;
  uint32_t layout_version;
  uint32_t total_size;
  uint32_t state;
  uint32_t pid;
  uint32_t mimalloc_version;
  uint32_t dll_version;
  uint32_t hooked_count;
  uint32_t patch_sites;
  uint32_t stripe_count;
  uint32_t stripe_offset;
  uint32_t names_offset;
  uint32_t names_size;
  uint32_t error;
  uint64_t hooks_live_unix_ms;
  uint64_t hooks_live_filetime;
  uint32_t reason;
  uint32_t reserved0;
  uint64_t process_created;
  hs_trim_stats trim;
} hs_stats_header;
_Static_assert(sizeof(hs_stats_header) == HS_STATS_NAMES_OFFSET,
               "the header fills 128 bytes");

typedef enum hs_counter {
  HS_C_ALLOCS = 0,
  HS_C_FREES,
  HS_C_FREES_OLD,
  HS_C_MIGRATIONS,
  HS_C_MIGRATED_BYTES,
  HS_C_EXPAND_REJECTS,
  HS_C_COUNT_
} hs_counter;

#define HS_STRIPE_OWNER 7 /* c[7]: the owning thread's id, 0 when free */

typedef struct hs_stripe {
  volatile int64_t c[8];
} hs_stripe;

/* ---- the architecture: x64 or x86 (32-bit, WOW64) ---------------------- */

#if defined(_MSC_VER) && !defined(__clang__)
#define HS_LIKELY(x) (x)
#else
#define HS_LIKELY(x) __builtin_expect(!!(x), 1)
#endif

#if defined(_M_X64) || defined(__x86_64__)
#define HS_X64 1
#define HS_X86 0
#elif defined(_M_IX86) || defined(__i386__)
#define HS_X64 0
#define HS_X86 1
#else
#error "heapshift builds for x64 and x86 only"
#endif

/* _HEAP_MAXREQ: the largest request UCRT passes to the heap. */
#if HS_X64
#define HS_HEAP_MAXREQ ((size_t)0xFFFFFFFFFFFFFFE0ull)
#else
#define HS_HEAP_MAXREQ ((size_t)0xFFFFFFE0u)
#endif

/* The TEB (x64 at gs:, x86 at fs:): ClientId.UniqueThread, TlsSlots[64],
 * TlsExpansionSlots. */
#if HS_X64
#define HS_TEB_READ(off) __readgsqword(off)
#define HS_TEB_THREAD_ID 0x48
#define HS_TEB_TLS_SLOTS 0x1480
#define HS_TEB_TLS_EXPANSION 0x1780
#else
#define HS_TEB_READ(off) __readfsdword(off)
#define HS_TEB_THREAD_ID 0x24
#define HS_TEB_TLS_SLOTS 0xE10
#define HS_TEB_TLS_EXPANSION 0xF94
#endif

/* GetCurrentThreadId() without the call: TEB.ClientId.UniqueThread. */
static inline uint32_t hs_thread_id(void) {
  return (uint32_t)HS_TEB_READ(HS_TEB_THREAD_ID);
}

/* TlsGetValue(index) without the call (which also clears the last-error
 * value): TEB.TlsSlots[index], or TEB.TlsExpansionSlots[index - 64]. */
static inline void* hs_tls_slot(DWORD index) {
  if (HS_LIKELY(index < 64)) {
    return (void*)HS_TEB_READ(HS_TEB_TLS_SLOTS + sizeof(void*) * index);
  }
  void** expansion = (void**)HS_TEB_READ(HS_TEB_TLS_EXPANSION);
  return expansion ? expansion[index - 64] : NULL;
}

/* One 8-byte store, never two 4-byte halves: a reader in another process
 * (the 64-bit tool reading a 32-bit target's stats) must not see a torn
 * counter. x64: a plain aligned store; i686 GCC: SSE2 movq or x87
 * fild/fistp, both single 8-byte accesses. */
static inline void hs_store64(volatile int64_t* c, int64_t v) {
#if !defined(_MSC_VER) || defined(__clang__)
  __atomic_store_n(c, v, __ATOMIC_RELAXED);
#elif HS_X64
  *c = v;
#else
  _mm_storel_epi64((__m128i*)c, _mm_loadl_epi64((const __m128i*)&v));
#endif
}

/* One 8-byte load, the reading side of hs_store64 (another thread's
 * stripe, never torn on x86). */
static inline int64_t hs_load64(const volatile int64_t* c) {
#if !defined(_MSC_VER) || defined(__clang__)
  return __atomic_load_n(c, __ATOMIC_RELAXED);
#elif HS_X64
  return *c;
#else
  int64_t v;
  _mm_storel_epi64((__m128i*)&v, _mm_loadl_epi64((const __m128i*)c));
  return v;
#endif
}

/* Counting. Every thread that counts owns a stripe of its own in the shared
 * block (claimed on its first count, any free one; owner id at +56) and
 * adds to it with plain stores, which is exact because no other thread
 * writes there; the stripe's address is in the thread's TLS slot
 * `hs_count_slot`, so the hot path is one TEB read and one add. The
 * thread gives its stripe back on DLL_THREAD_DETACH (the counts stay; the
 * next owner keeps adding). Threads for which no stripe is free count the
 * same way into a private stripe, published into the last stripe with
 * atomic adds off the hot path (hs_count_heartbeat: every 1024 counts,
 * into a stripe of its own once one is free) and at thread exit. A
 * thread's counts after its DLL_THREAD_DETACH (other DLLs' detach code runs
 * after ours) go to the last stripe directly. See stats.c. */
#define HS_STATS_SHARED_STRIPE (HS_STATS_STRIPES - 1u)
extern DWORD hs_count_slot; /* mimalloc_unit.c: the hooks' unit */
/* The thread's mimalloc heap, cached by the hooks (mimalloc_unit.c). */
extern DWORD hs_heap_slot;
void hs_count_slow(hs_counter which, int64_t n);
/* DLL_THREAD_DETACH: gives the stripe back, publishes private counts. */
void hs_count_thread_done(void);
/* A thread counting privately publishes (or moves into a stripe of its
 * own). Called from mimalloc's deferred-free heartbeat, which the
 * thread's allocation slow path runs (mimalloc_unit.c). */
void hs_count_heartbeat(void);
/* The TLS slots the hooks need (counting, the heap cache); FALSE when
 * there are none left. */
BOOL hs_count_init(void);

static inline void hs_count(hs_counter which, int64_t n) {
  hs_stripe* s = (hs_stripe*)hs_tls_slot(hs_count_slot);
  if (HS_LIKELY(s != NULL)) {
    volatile int64_t* c = &s->c[which];
    hs_store64(c, *c + n); /* readers never see it torn */
    return;
  }
  hs_count_slow(which, n);
}

/* A counter summed over every stripe (stats.c; for the trimmer's pacing). */
int64_t hs_stats_total(hs_counter which);
/* FALSE if another heapshift copy already took this process over. */
BOOL hs_stats_open(void);
void hs_stats_set_names(const char* const* names, unsigned count);
void hs_stats_set_state(enum hs_state state, uint32_t reason, DWORD error);
void hs_stats_mark_live(uint32_t patch_sites, uint32_t reason,
                        DWORD error);

/* ------------------------------------------------------------------------
 * Instructions (insn.c): lengths and control flow of x64 or x86 code (the
 * architecture this DLL is built for).
 * ---------------------------------------------------------------------- */
typedef enum hs_insn_kind {
  HS_INSN_NEXT,     /* falls through to the next instruction */
  HS_INSN_JCC,      /* conditional relative branch (loop, jcxz too) */
  HS_INSN_JMP,      /* relative jmp: no fall-through */
  HS_INSN_CALL,     /* call rel32 */
  HS_INSN_CALL_IND, /* call r/m, call far */
  HS_INSN_JMP_IND,  /* jmp r/m, no fall-through */
  HS_INSN_END       /* ret, int3, ud2, hlt, jmp far: no fall-through */
} hs_insn_kind;

typedef struct hs_insn {
  unsigned len;
  hs_insn_kind kind;
  const uint8_t* target; /* JCC, JMP, CALL: where it goes */
  const uint8_t* mem;    /* a disp32-only operand's address (x64: RIP+) */
  uint8_t modrm_reg;     /* the ModRM reg field (0 without ModRM) */
} hs_insn;

/* FALSE (len 0) for what it does not decode: the bytes are then unproven. */
BOOL hs_insn_decode(const uint8_t* p, hs_insn* out);

/* ------------------------------------------------------------------------
 * A loaded module's code (code.c): function extents (.pdata, .eh_frame,
 * else decoding), room to patch, and where direct branches land.
 * ---------------------------------------------------------------------- */
typedef struct hs_code {
  uint8_t* base;
  IMAGE_NT_HEADERS* nt;
  const uint8_t* eh_frame; /* a DWARF .eh_frame, recognised by parsing */
  size_t eh_frame_size;
} hs_code;

void hs_code_open(hs_code* m, HMODULE h);
/* [p, p + n) lies in one executable section. */
BOOL hs_code_contains(const hs_code* m, const uint8_t* p, size_t n);
/* [p, p + n) lies in the module's image. */
BOOL hs_code_contains_data(const hs_code* m, const uint8_t* p, size_t n);
/* hs_insn_decode at p, FALSE if p is not code; never reads past the end of
 * p's section. */
BOOL hs_code_decode(const hs_code* m, const uint8_t* p, hs_insn* in);
/* Bytes from `entry` that belong to its function (or padding after it),
 * bounded by the next function start or export; *known when a function
 * extent (.pdata, .eh_frame) says so rather than decoding. */
size_t hs_code_room(const hs_code* m, const uint8_t* entry, BOOL* known);
/* [p, p + n) is int3 or nop padding between functions: one byte repeated,
 * in no function extent, no function start or export in it. */
BOOL hs_code_is_padding(const hs_code* m, const uint8_t* p, size_t n);
/* For each entry, bit k of masks[i] is set when a direct jmp/jcc/call or
 * an absolute address in the module lands at entries[i] - 8 + k. Where the
 * code within a rel8 branch's reach could not be decoded,
 * undecoded[2i] (before the entry) / undecoded[2i+1] (from it on) says
 * where (NULL: all decoded). */
void hs_code_landings(const hs_code* m, uint8_t* const entries[], unsigned n,
                      uint32_t masks[], const uint8_t* undecoded[]);
#define HS_LANDING_BEFORE 8 /* bit 0 of a landing mask: entry - 8 */

/* ------------------------------------------------------------------------
 * Patching (patch.c).
 * ---------------------------------------------------------------------- */
typedef struct hs_patch_result {
  unsigned sites;         /* distinct code sites patched */
  unsigned names;         /* table entries that now reach a hook */
  const char* names_list[128];
  const char* error;      /* what went wrong (for the log), else NULL */
  uint32_t reason;        /* enum hs_reason, 0 when nothing went wrong */
  DWORD win32_error;      /* GetLastError() of the call that failed, or 0 */
} hs_patch_result;

/* TRUE when the hooks are live: then `reason` is 0, or HS_R_READBACK when
 * written jumps did not read back and neither did their rollback. FALSE:
 * nothing was changed (no code, no page protection, no thread). */
BOOL hs_patch_all(hs_patch_result* result);

/* ------------------------------------------------------------------------
 * Thread-local storage for GCC builds (tls.c): our own emutls, so that no
 * TLS access can ever reach the (hooked) CRT heap; and a private Win32 heap
 * for heapshift's own small blocks.
 * ---------------------------------------------------------------------- */
BOOL hs_tls_process_init(void);
/* This thread has TLS blocks (it touched mimalloc's thread state). */
BOOL hs_tls_thread_active(void);
/* Frees this thread's TLS blocks and marks it as past heapshift's
 * DLL_THREAD_DETACH: TLS it needs afterwards is set up again, marked. */
void hs_tls_thread_done(void);
/* This thread is past heapshift's DLL_THREAD_DETACH. */
BOOL hs_tls_thread_late(void);
void* hs_private_alloc(size_t size); /* zeroed; never the CRT heap */
void hs_private_free(void* p);

/* Thread exit (entry.c). On a thread past heapshift's DLL_THREAD_DETACH
 * (DLLs loaded before heapshift get theirs later, and may allocate):
 * releases the mimalloc heap and TLS blocks a hooked call set up again.
 * Called from the counters' slow path, which every hooked call reaches on
 * such a thread (an allocation's hs_count comes after its block exists). */
void hs_thread_late_release(void);

/* Logging (entry.c): HEAPSHIFT_VERBOSE=1. */
extern BOOL hs_verbose;
void hs_log(const char* fmt, ...);

/* ------------------------------------------------------------------------
 * Test-only fault switches (entry.c reads HEAPSHIFT_TEST_FAULTS at load;
 * dll/README.md "Test-only switches"). They make conditions the Windows
 * suite cannot provoke for real look real to the installer. All zero in
 * normal use.
 * ---------------------------------------------------------------------- */
typedef struct hs_test_faults {
  unsigned busy;            /* this many attempts find a site busy */
  BOOL open;                /* OpenThread refuses every other thread */
  BOOL context;             /* GetThreadContext fails */
  unsigned max_threads;     /* fewer threads than MAX_THREADS fit */
  unsigned call_in_site;    /* each site has a call returning to site + N */
  BOOL readback;            /* the written jumps do not read back */
  BOOL readback_sticky;     /* ... nor does the rollback */
  BOOL snapshot_rendezvous; /* after the thread snapshot: signal, wait */
  unsigned stripes;         /* fewer ownable counter stripes */
  unsigned branch_in_site;  /* a branch lands at each entry + N */
  BOOL restore;             /* VirtualProtect cannot restore a page */
  DWORD foreign_thread;     /* the snapshot lists this id (another
                               process's thread) as one of ours */
  unsigned suspend_refused; /* SuspendThread refuses in the first N
                               attempts (a thread in its kernel exit) */
  unsigned retry_sleep;     /* ms between attempts (Windows: Sleep(1) is
                               ~15.6 ms at the default timer resolution) */
  BOOL trim_optimize;       /* the trimmer uses Windows' way under Wine */
} hs_test_faults;
extern hs_test_faults hs_faults;

#if defined(_MSC_VER) && !defined(__clang__)
#define HS_NOINLINE __declspec(noinline)
#define HS_ALWAYS_INLINE __forceinline
#else
#define HS_NOINLINE __attribute__((noinline))
#define HS_ALWAYS_INLINE inline __attribute__((always_inline))
#endif

/* Runs while other threads are suspended: must not allocate. */
#define HS_NO_ALLOC

#endif
