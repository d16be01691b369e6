/* heapshift: the stats block's layout, the ABI between heapshift.dll
 * (stats.c writes it) and its readers in other processes. Needs only the
 * C standard headers.
 *
 * Mirrored by src/stats_block.ts (the TypeScript reader) and documented
 * in dll/STATS.md: keep the three in step. */
#ifndef HEAPSHIFT_STATS_H
#define HEAPSHIFT_STATS_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * The block: shared memory `Local\heapshift-<pid>`, layout v1
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
 *  88  trim fields (hs_trim_stats, written by trim.c: its thread, and
 *      under Wine the hooks too, trim_reset_bytes atomically):
 *   88  u32 trim_state     enum hs_trim_state
 *   92  u32 trim_error     Win32 error of the trimmer's last failed call
 *   96  u64 trim_passes    passes over the old heap completed
 *  104  u64 trim_reset_bytes  bytes of whole pages reset (Wine: the walk, and
 *                              old blocks as the hooks free them)
 *  112  u32 trim_chunks    times the heap lock was taken for a chunk
 *  116  u32 trim_hold_max_us  longest of those holds, microseconds
 *  120  u32 trim_busy_kib  the CRT heap's busy blocks at the last walk, KiB
 *  124  u32 trim_free_kib  its free blocks at the last walk, KiB
 * 128  names: NUL-terminated ASCII export names, one after the other,
 *      ended by an empty name
 * 4096 stripes[1024], 64 bytes each, eight u64; a reader sums the
 *      counters over all stripes (how threads write them: hs_count in
 *      heapshift.h):
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
_Static_assert(HS_STATS_SIZE == 69632, "total_size as documented");

/* The header's `state`. */
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
  HS_R_TLS = 14,             /* no TLS index for heapshift or mimalloc */
  HS_R_UNSAFE_SITE = 15,     /* a branch lands inside a site, or its code
                                cannot be decoded */
  HS_R_RESTORE = 16,         /* a page's protection could not be restored */
  HS_R_FOREIGN_HOOK = 17,    /* another tool hooks an export already */
  HS_R_PAGE_MAP = 18,        /* mimalloc's page map could not be committed */
  HS_R_PIN = 19              /* the DLL could not pin itself in memory */
};

/* The header's `trim_state`: what the trimmer (trim.c) does with the old
 * heap's free pages, or why it does not run. */
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
  HS_TRIM_FREE_RESET = 9    /* Wine without HEAPSHIFT_TRIM_WALK=1: no
                             * thread; old blocks' pages reset as freed */
};

/* Header offsets 88-127, written by trim.c (its thread; reset_bytes and
 * error also by the hooks under Wine). */
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
/* The offsets above, as the compiler lays the header out. */
#define HS_STATS_AT(field, off)                                      \
  _Static_assert(offsetof(hs_stats_header, field) == (off),          \
                 "stats header: " #field " at " #off)
HS_STATS_AT(magic, 0);
HS_STATS_AT(layout_version, 4);
HS_STATS_AT(total_size, 8);
HS_STATS_AT(state, 12);
HS_STATS_AT(pid, 16);
HS_STATS_AT(mimalloc_version, 20);
HS_STATS_AT(dll_version, 24);
HS_STATS_AT(hooked_count, 28);
HS_STATS_AT(patch_sites, 32);
HS_STATS_AT(stripe_count, 36);
HS_STATS_AT(stripe_offset, 40);
HS_STATS_AT(names_offset, 44);
HS_STATS_AT(names_size, 48);
HS_STATS_AT(error, 52);
HS_STATS_AT(hooks_live_unix_ms, 56);
HS_STATS_AT(hooks_live_filetime, 64);
HS_STATS_AT(reason, 72);
HS_STATS_AT(process_created, 80);
HS_STATS_AT(trim.state, 88);
HS_STATS_AT(trim.error, 92);
HS_STATS_AT(trim.passes, 96);
HS_STATS_AT(trim.reset_bytes, 104);
HS_STATS_AT(trim.chunks, 112);
HS_STATS_AT(trim.hold_max_us, 116);
HS_STATS_AT(trim.busy_kib, 120);
HS_STATS_AT(trim.free_kib, 124);
#undef HS_STATS_AT
_Static_assert(sizeof(hs_stats_header) == HS_STATS_NAMES_OFFSET,
               "the header fills 128 bytes");

/* The stripes' counters, by index (c[i] is at +8*i). */
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

#endif
