/* heapshift bench workloads: allocation patterns that check their own
 * results, so a fast wrong answer fails the run.
 *
 * Built twice by tasks/bench.ts from this one file:
 *   workload-ucrt.exe      plain UCRT imports (variants 1, 2, 3, 5)
 *   workload-mimalloc.exe  -DBENCH_MIMALLOC + mimalloc's src/static.c, the
 *                          program's own calls redirected to mi_* (variant 4)
 *
 * usage: workload.exe NAME [--scale F] [--threads N] [--seed N]
 *                          [--load DLL] [--late-load DLL] [--wait]
 *                          [--msize-exact]
 *   NAME         churn | mt-churn | realloc | aligned | game | migrate | percall
 *   --load       LoadLibrary(DLL) first thing in main (heapshift at start)
 *   --late-load  LoadLibrary(DLL) after the warm-up (self-injection, the
 *                fallback when the harness cannot inject remotely)
 *   --wait       after the warm-up print "warm <pid>" and wait for a "go"
 *                line on stdin (the harness injects meanwhile); after the
 *                timed phase print "done" and wait for a "quit" line (the
 *                harness reads the DLL's stats meanwhile)
 *   --msize-exact  every live mimalloc block's _msize after the timed phase
 *                must be the size asked for (else, and on the UCRT heap, at
 *                least that)
 *
 * Every workload first allocates a warm-up set of blocks that stay live
 * ("old" blocks: on the UCRT heap unless heapshift was loaded at start),
 * then runs its timed phase, in which old blocks get reallocated or freed
 * as the pattern touches them. Each block carries a self-describing tag
 * (size, origin, random bits) at both ends, checked whenever the block is
 * touched. The origin tracks lineage: OLD (from the warm-up), LINEAGE (the
 * result of reallocating an old block, transitively) or NEW. After the
 * timed phase the UCRT heap is walked (HeapWalk on _get_heap_handle()) and
 * every live block is looked up in it: with late injection no LINEAGE
 * block may remain on the old heap.
 *
 * The last stdout line is "result {json}"; any failed check prints
 * "error: ..." on stderr and exits with code 3. */
#ifdef BENCH_MIMALLOC
#include "mi_direct.h"
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <psapi.h>
#include <process.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

#ifdef BENCH_MIMALLOC
#define ALLOCATOR "mimalloc-direct"
#else
#define ALLOCATOR "ucrt"
#endif

/* ------------------------------------------------------------------ */
/* output, failure, time                                               */

static void out_raw(HANDLE h, const char *s, size_t n) {
  DWORD w;
  while (n > 0) {
    if (!WriteFile(h, s, (DWORD)n, &w, NULL)) return;
    s += w;
    n -= w;
  }
}

static void outf(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  out_raw(GetStdHandle(STD_OUTPUT_HANDLE), buf, (size_t)n);
}

static const char *g_workload = "?";

static void fail(const char *fmt, ...) {
  char buf[1024];
  int k = snprintf(buf, sizeof buf, "error: %s: ", g_workload);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + k, sizeof buf - (size_t)k - 2, fmt, ap);
  va_end(ap);
  size_t n = strlen(buf);
  buf[n++] = '\n';
  out_raw(GetStdHandle(STD_ERROR_HANDLE), buf, n);
  ExitProcess(3);
}

static double g_qpf;

static double now_ms(void) {
  LARGE_INTEGER c;
  QueryPerformanceCounter(&c);
  return (double)c.QuadPart * 1000.0 / g_qpf;
}

/* Reads one line from stdin without the CRT (no allocations). */
static void read_line(char *buf, size_t cap) {
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  size_t n = 0;
  for (;;) {
    char c;
    DWORD r = 0;
    if (!ReadFile(in, &c, 1, &r, NULL) || r == 0) break;
    if (c == '\n') break;
    if (c != '\r' && n + 1 < cap) buf[n++] = c;
  }
  buf[n] = 0;
}

/* ------------------------------------------------------------------ */
/* randomness, tags                                                    */

static inline uint64_t rng(uint64_t *s) {
  /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

enum { ORIGIN_NEW = 0, ORIGIN_OLD = 1, ORIGIN_LINEAGE = 2 };

static inline uint64_t mktag(size_t size, unsigned origin, uint64_t r) {
  return ((uint64_t)(uint32_t)size << 32) | ((uint64_t)origin << 30) |
         (r & 0x3FFFFFFFu);
}
static inline size_t tag_size(uint64_t t) { return (size_t)(t >> 32); }
static inline unsigned tag_origin(uint64_t t) { return (unsigned)(t >> 30) & 3; }

/* Blocks are at least 16 bytes: the tag at both ends. */
static inline void stamp(void *p, uint64_t t) {
  unsigned char *b = p;
  size_t n = tag_size(t);
  memcpy(b, &t, 8);
  memcpy(b + n - 8, &t, 8);
}

static inline uint64_t head_tag(const void *p) {
  uint64_t t;
  memcpy(&t, p, 8);
  return t;
}

/* Checks a block's tags and returns the tag. */
static inline uint64_t verify(const void *p, size_t expect_size) {
  if (p == NULL) fail("NULL block");
  uint64_t t = head_tag(p), u;
  size_t n = tag_size(t);
  if (n < 16 || (expect_size && n != expect_size))
    fail("corrupt head tag at %p (size %zu, expected %zu)", p, n, expect_size);
  memcpy(&u, (const unsigned char *)p + n - 8, 8);
  if (u != t) fail("corrupt tail tag at %p (size %zu)", p, n);
  return t;
}

/* After realloc(p, m) of a block stamped with t: the head tag survives,
 * and the old tail tag survives when the block did not shrink. */
static inline void verify_moved(const void *q, uint64_t t, size_t m) {
  uint64_t h = head_tag(q);
  if (h != t) fail("realloc lost the head of a block (%p)", q);
  size_t n = tag_size(t);
  if (m >= n) {
    uint64_t u;
    memcpy(&u, (const unsigned char *)q + n - 8, 8);
    if (u != t) fail("realloc lost the tail of a block (%p)", q);
  }
}

/* ------------------------------------------------------------------ */
/* counters and the old-heap check                                     */

typedef struct {
  double ms;        /* timed phase, wall clock */
  double cpu_ms;    /* timed phase, CPU time of all threads */
  uint64_t ops;     /* operations in the timed phase */
  uint64_t check;   /* deterministic checksum (single-threaded workloads) */
  uint64_t old_blocks, old_reallocs, old_frees;
  uint64_t bytes;   /* migrate: bytes of old blocks reallocated */
} result_t;

static result_t R;

/* When the single-threaded workloads were halfway through their timed
 * phase (ms, now_ms): the second half shows a late-injected program once
 * most old blocks have left the old heap, apart from their one-time cost. */
static double g_half_ms = -1;
static inline void halfway(size_t k, size_t ops) {
  if (k == ops / 2) g_half_ms = now_ms();
}

typedef struct {
  uintptr_t lo, hi;
} range_t;

static range_t *g_ranges;
static size_t g_nranges, g_cap_ranges;
static int g_heapwalk_ok;
static uint64_t g_live, g_live_in_heap, g_lineage, g_lineage_in_heap;
static uint64_t g_new, g_new_in_heap;

static void ranges_push(uintptr_t lo, uintptr_t hi) {
  if (g_nranges == g_cap_ranges) {
    size_t cap = g_cap_ranges ? g_cap_ranges * 2 : (1u << 16);
    range_t *n = VirtualAlloc(NULL, cap * sizeof *n, MEM_COMMIT | MEM_RESERVE,
                              PAGE_READWRITE);
    if (!n) fail("VirtualAlloc for the heap walk failed");
    if (g_ranges) {
      memcpy(n, g_ranges, g_nranges * sizeof *n);
      VirtualFree(g_ranges, 0, MEM_RELEASE);
    }
    g_ranges = n;
    g_cap_ranges = cap;
  }
  g_ranges[g_nranges].lo = lo;
  g_ranges[g_nranges].hi = hi;
  g_nranges++;
}

static int cmp_range(const void *a, const void *b) {
  uintptr_t x = ((const range_t *)a)->lo, y = ((const range_t *)b)->lo;
  return x < y ? -1 : x > y;
}

/* Records every busy block of the UCRT heap. */
static void heap_snapshot(void) {
  HANDLE h = (HANDLE)_get_heap_handle();
  PROCESS_HEAP_ENTRY e;
  memset(&e, 0, sizeof e);
  g_nranges = 0;
  if (!HeapLock(h)) return;
  while (HeapWalk(h, &e)) {
    if (e.wFlags & PROCESS_HEAP_ENTRY_BUSY)
      ranges_push((uintptr_t)e.lpData, (uintptr_t)e.lpData + e.cbData);
  }
  HeapUnlock(h);
  g_heapwalk_ok = g_nranges > 0;
  qsort(g_ranges, g_nranges, sizeof *g_ranges, cmp_range);
}

static int in_old_heap(const void *p) {
  uintptr_t a = (uintptr_t)p;
  size_t lo = 0, hi = g_nranges;
  while (lo < hi) { /* first range with lo > a */
    size_t mid = (lo + hi) / 2;
    if (g_ranges[mid].lo <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && a < g_ranges[lo - 1].hi;
}

/* An _msize is at least the size asked for; with --msize-exact (heapshift
 * built with _msize exact) exactly that for a block off the UCRT heap
 * (mimalloc's). The UCRT heap's own blocks are held to "at least": Wine's
 * HeapSize gave 102 for a block reallocated to 86 bytes. Checked on every
 * live block after the timed phase and the heap walk, so an _msize the
 * program would trust wrongly fails the run. */
static int g_msize_exact;

static void check_msize(const void *p, size_t got, size_t asked, const char *fn) {
  int exact = g_msize_exact && g_heapwalk_ok && !in_old_heap(p);
  if (got == (size_t)-1 || got < asked || (exact && got != asked))
    fail("%s(%p) is %zu for a block of %zu bytes%s", fn, p, got, asked,
         exact ? " (exact expected of heapshift's _msize)" : "");
}

/* Checks a malloc-family block's tags and its _msize. */
static void verify_sized(const void *p) {
  uint64_t t = verify(p, 0);
  check_msize(p, _msize((void *)p), tag_size(t), "_msize");
}

/* Called for each live block after the snapshot, with its origin. */
static void account(const void *p, unsigned origin) {
  int in = in_old_heap(p);
  g_live++;
  g_live_in_heap += in;
  if (origin == ORIGIN_LINEAGE) {
    g_lineage++;
    g_lineage_in_heap += in;
  } else if (origin == ORIGIN_NEW) {
    g_new++;
    g_new_in_heap += in;
  }
}

/* ------------------------------------------------------------------ */
/* options                                                             */

static double g_scale = 1.0;
static int g_threads = 4;
static uint64_t g_seed = 0x9E3779B97F4A7C15ULL;

static size_t scaled(double n) {
  double v = n * g_scale;
  return v < 1 ? 1 : (size_t)v;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) fail("malloc(%zu) returned NULL", n);
  return p;
}

/* Workload state lives in fixed arrays (not malloc) to keep the measured
 * allocations the workload's own. */

/* ------------------------------------------------------------------ */
/* churn: small-object churn, single thread                            */

#define CHURN_SLOTS 8192
static void *churn_slot[CHURN_SLOTS];

static size_t small_size(uint64_t *r) {
  uint64_t x = rng(r);
  unsigned k = (unsigned)(x & 7);
  x >>= 8;
  if (k < 6) return 16 + (size_t)(x % 112);
  if (k == 6) return 128 + (size_t)(x % 384);
  return 512 + (size_t)(x % 512);
}

static void churn_warm(uint64_t *r) {
  for (size_t i = 0; i < CHURN_SLOTS; i++) {
    size_t n = small_size(r);
    void *p = xmalloc(n);
    stamp(p, mktag(n, ORIGIN_OLD, rng(r)));
    churn_slot[i] = p;
  }
  R.old_blocks = CHURN_SLOTS;
}

static void churn_run(uint64_t *r) {
  size_t ops = scaled(1500000);
  uint64_t check = 0;
  for (size_t k = 0; k < ops; k++) {
    halfway(k, ops);
    uint64_t x = rng(r);
    size_t i = (size_t)(x % CHURN_SLOTS);
    unsigned op = (unsigned)(x >> 40) & 7;
    void *p = churn_slot[i];
    uint64_t t = verify(p, 0);
    check += t;
    unsigned o = tag_origin(t);
    size_t n = small_size(r);
    void *q;
    if (op == 0) {
      q = realloc(p, n);
      if (!q) fail("realloc returned NULL");
      verify_moved(q, t, n);
      if (o == ORIGIN_OLD) R.old_reallocs++;
      stamp(q, mktag(n, o == ORIGIN_NEW ? ORIGIN_NEW : ORIGIN_LINEAGE, rng(r)));
    } else {
      if (o == ORIGIN_OLD) R.old_frees++;
      free(p);
      if (op == 1) {
        q = calloc(1, n);
        if (!q) fail("calloc returned NULL");
        const unsigned char *b = q;
        for (size_t j = 0; j < n; j += 1 + (j >> 2))
          if (b[j]) fail("calloc block not zeroed at %zu", j);
      } else {
        q = xmalloc(n);
      }
      stamp(q, mktag(n, ORIGIN_NEW, rng(r)));
    }
    churn_slot[i] = q;
  }
  R.ops = ops;
  R.check = check;
}

static void churn_account(void) {
  for (size_t i = 0; i < CHURN_SLOTS; i++)
    account(churn_slot[i], tag_origin(head_tag(churn_slot[i])));
}

static void churn_free(void) {
  for (size_t i = 0; i < CHURN_SLOTS; i++) {
    verify_sized(churn_slot[i]);
    free(churn_slot[i]);
  }
}

/* ------------------------------------------------------------------ */
/* mt-churn: server-like threads; each churns its own blocks, and one
 * operation in eight hands a block over through a shared mailbox, where
 * another thread frees it (cross-thread frees)                       */

#define MT_MAXT 64
#define MT_LOCAL 4096
#define MT_SHARED 1024
static void *volatile mt_shared[MT_SHARED];

typedef struct {
  uint64_t seed, ops, old_reallocs, old_frees, handoffs;
  void *local[MT_LOCAL];
} mt_arg_t;
static mt_arg_t mt_args[MT_MAXT];
static int mt_nt;

static inline void mt_release(mt_arg_t *a, void *old) {
  uint64_t u = verify(old, 0);
  if (tag_origin(u) == ORIGIN_OLD) a->old_frees++;
  free(old);
}

static unsigned __stdcall mt_thread(void *arg) {
  mt_arg_t *a = arg;
  uint64_t r = a->seed;
  for (uint64_t k = 0; k < a->ops; k++) {
    uint64_t x = rng(&r);
    unsigned op = (unsigned)(x >> 40) & 7;
    size_t n = small_size(&r);
    if (op == 0) { /* hand a new block over, free the one found there */
      void *q = xmalloc(n);
      stamp(q, mktag(n, ORIGIN_NEW, rng(&r)));
      void *old = InterlockedExchangePointer(
          (PVOID volatile *)&mt_shared[x % MT_SHARED], q);
      if (old) mt_release(a, old);
      a->handoffs++;
      continue;
    }
    size_t i = (size_t)(x % MT_LOCAL);
    void *p = a->local[i];
    uint64_t t = verify(p, 0);
    unsigned o = tag_origin(t);
    if (op == 1) {
      void *q = realloc(p, n);
      if (!q) fail("realloc returned NULL");
      verify_moved(q, t, n);
      if (o == ORIGIN_OLD) a->old_reallocs++;
      stamp(q, mktag(n, o == ORIGIN_NEW ? ORIGIN_NEW : ORIGIN_LINEAGE, rng(&r)));
      a->local[i] = q;
    } else {
      mt_release(a, p);
      void *q = xmalloc(n);
      stamp(q, mktag(n, ORIGIN_NEW, rng(&r)));
      a->local[i] = q;
    }
  }
  return 0;
}

static void mt_warm(uint64_t *r) {
  mt_nt = g_threads < 1 ? 1 : g_threads > MT_MAXT ? MT_MAXT : g_threads;
  for (int t = 0; t < mt_nt; t++)
    for (size_t i = 0; i < MT_LOCAL; i++) {
      size_t n = small_size(r);
      void *p = xmalloc(n);
      stamp(p, mktag(n, ORIGIN_OLD, rng(r)));
      mt_args[t].local[i] = p;
    }
  for (size_t i = 0; i < MT_SHARED; i++) {
    size_t n = small_size(r);
    void *p = xmalloc(n);
    stamp(p, mktag(n, ORIGIN_OLD, rng(r)));
    mt_shared[i] = p;
  }
  R.old_blocks = (uint64_t)mt_nt * MT_LOCAL + MT_SHARED;
}

static void mt_run(uint64_t *r) {
  HANDLE th[MT_MAXT];
  size_t total = scaled(2400000);
  for (int t = 0; t < mt_nt; t++) {
    mt_args[t].seed = rng(r) | 1;
    mt_args[t].ops = total / (size_t)mt_nt;
    th[t] = (HANDLE)_beginthreadex(NULL, 0, mt_thread, &mt_args[t], 0, NULL);
    if (!th[t]) fail("cannot start thread %d", t);
  }
  WaitForMultipleObjects((DWORD)mt_nt, th, TRUE, INFINITE);
  for (int t = 0; t < mt_nt; t++) {
    CloseHandle(th[t]);
    R.ops += mt_args[t].ops;
    R.old_reallocs += mt_args[t].old_reallocs;
    R.old_frees += mt_args[t].old_frees;
  }
  R.check = 0; /* thread interleaving makes any checksum nondeterministic */
}

static void mt_account(void) {
  for (int t = 0; t < mt_nt; t++)
    for (size_t i = 0; i < MT_LOCAL; i++) {
      void *p = mt_args[t].local[i];
      account(p, tag_origin(head_tag(p)));
    }
  for (size_t i = 0; i < MT_SHARED; i++)
    if (mt_shared[i])
      account(mt_shared[i], tag_origin(head_tag(mt_shared[i])));
}

static void mt_free(void) {
  for (int t = 0; t < mt_nt; t++)
    for (size_t i = 0; i < MT_LOCAL; i++) {
      verify_sized(mt_args[t].local[i]);
      free(mt_args[t].local[i]);
    }
  for (size_t i = 0; i < MT_SHARED; i++)
    if (mt_shared[i]) {
      verify_sized(mt_shared[i]);
      free(mt_shared[i]);
    }
}

/* ------------------------------------------------------------------ */
/* realloc: string and vector builders growing by realloc              */

#define BUILDERS 512
typedef struct {
  unsigned char *buf;
  size_t len, cap, target;
  uint32_t h;
  int exact; /* 1: realloc to the exact length on every append (strcat
                style); 0: capacity doubling (vector style) */
  int origin;
} builder_t;
static builder_t bld[BUILDERS];

static void builder_new(builder_t *b, uint64_t *r) {
  uint64_t x = rng(r);
  b->buf = NULL;
  b->len = b->cap = 0;
  b->target = (x & 15) == 0 ? 16384 + (size_t)((x >> 8) % 49152)
                            : 256 + (size_t)((x >> 8) % 8192);
  b->exact = (int)((x >> 4) & 1);
  b->h = 2166136261u;
  b->origin = ORIGIN_NEW;
}

static uint32_t fnv(const unsigned char *p, size_t n, uint32_t h) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static void builder_append(builder_t *b, uint64_t *r) {
  uint64_t x = rng(r);
  size_t chunk = 1 + (size_t)(x % 48);
  size_t need = b->len + chunk + 1;
  if (need > b->cap || b->exact) {
    size_t cap = b->exact ? need : (b->cap * 2 > need ? b->cap * 2 : need < 32 ? 32 : need);
    unsigned char *q = realloc(b->buf, cap);
    if (!q) fail("realloc(%zu) returned NULL", cap);
    if (b->origin == ORIGIN_OLD) {
      R.old_reallocs++;
      b->origin = ORIGIN_LINEAGE;
    }
    b->buf = q;
    b->cap = cap;
  }
  unsigned char *d = b->buf + b->len;
  for (size_t j = 0; j < chunk; j++) d[j] = (unsigned char)((x >> ((j & 7) * 8)) ^ j);
  b->h = fnv(d, chunk, b->h);
  b->len += chunk;
  b->buf[b->len] = 0;
}

static void builder_check(const builder_t *b) {
  if (!b->buf) return;
  if (fnv(b->buf, b->len, 2166136261u) != b->h || b->buf[b->len] != 0)
    fail("builder content corrupted (len %zu)", b->len);
}

static void realloc_warm(uint64_t *r) {
  for (size_t i = 0; i < BUILDERS; i++) {
    builder_new(&bld[i], r);
    while (bld[i].len < bld[i].target / 2) builder_append(&bld[i], r);
    bld[i].origin = ORIGIN_OLD;
  }
  R.old_blocks = BUILDERS;
}

static void realloc_run(uint64_t *r) {
  size_t ops = scaled(500000);
  uint64_t check = 0;
  for (size_t k = 0; k < ops; k++) {
    halfway(k, ops);
    builder_t *b = &bld[rng(r) % BUILDERS];
    builder_append(b, r);
    if (b->len >= b->target) {
      builder_check(b);
      check += b->h;
      free(b->buf);
      builder_new(b, r);
    }
  }
  R.ops = ops;
  R.check = check;
}

static void realloc_account(void) {
  for (size_t i = 0; i < BUILDERS; i++)
    if (bld[i].buf) account(bld[i].buf, (unsigned)bld[i].origin);
}

static void realloc_free(void) {
  for (size_t i = 0; i < BUILDERS; i++) {
    builder_check(&bld[i]);
    if (bld[i].buf) check_msize(bld[i].buf, _msize(bld[i].buf), bld[i].cap, "_msize");
    free(bld[i].buf);
  }
}

/* ------------------------------------------------------------------ */
/* aligned: _aligned_malloc / _aligned_offset_malloc / _aligned_realloc */

#define AL_SLOTS 4096
typedef struct {
  unsigned char *p;
  size_t align, off;
} al_slot_t;
static al_slot_t al[AL_SLOTS];

static void al_new(al_slot_t *s, uint64_t *r, unsigned origin) {
  uint64_t x = rng(r);
  size_t n = 32 + (size_t)((x >> 16) % 2048);
  s->align = (size_t)16 << (x % 9); /* 16 .. 4096 */
  s->off = ((x >> 8) & 7) == 0 ? 8 : 0;
  void *p = s->off ? _aligned_offset_malloc(n, s->align, s->off)
                   : _aligned_malloc(n, s->align);
  if (!p) fail("_aligned_malloc(%zu, %zu) returned NULL", n, s->align);
  if (((uintptr_t)p + s->off) % s->align) fail("misaligned block %p (align %zu, offset %zu)", p, s->align, s->off);
  s->p = p;
  stamp(p, mktag(n, origin, rng(r)));
}

static void al_free_slot(al_slot_t *s) {
  verify(s->p, 0);
  _aligned_free(s->p);
  s->p = NULL;
}

static void aligned_warm(uint64_t *r) {
  for (size_t i = 0; i < AL_SLOTS; i++) al_new(&al[i], r, ORIGIN_OLD);
  R.old_blocks = AL_SLOTS;
}

static void aligned_run(uint64_t *r) {
  size_t ops = scaled(300000);
  uint64_t check = 0;
  for (size_t k = 0; k < ops; k++) {
    halfway(k, ops);
    uint64_t x = rng(r);
    al_slot_t *s = &al[x % AL_SLOTS];
    uint64_t t = verify(s->p, 0);
    check += t;
    unsigned o = tag_origin(t);
    unsigned op = (unsigned)(x >> 40) & 15;
    if (op < 4) {
      size_t n = 32 + (size_t)((x >> 16) % 2048);
      void *q = s->off ? _aligned_offset_realloc(s->p, n, s->align, s->off)
                       : _aligned_realloc(s->p, n, s->align);
      if (!q) fail("_aligned_realloc returned NULL");
      if (((uintptr_t)q + s->off) % s->align) fail("_aligned_realloc lost the alignment");
      verify_moved(q, t, n);
      if (o == ORIGIN_OLD) R.old_reallocs++;
      s->p = q;
      stamp(q, mktag(n, o == ORIGIN_NEW ? ORIGIN_NEW : ORIGIN_LINEAGE, rng(r)));
    } else {
      if (op == 4 && _aligned_msize(s->p, s->align, s->off) < tag_size(t))
        fail("_aligned_msize smaller than the block");
      if (o == ORIGIN_OLD) R.old_frees++;
      al_free_slot(s);
      al_new(s, r, ORIGIN_NEW);
    }
  }
  R.ops = ops;
  R.check = check;
}

static void aligned_account(void) {
  for (size_t i = 0; i < AL_SLOTS; i++)
    account(al[i].p, tag_origin(head_tag(al[i].p)));
}

static void aligned_free(void) {
  for (size_t i = 0; i < AL_SLOTS; i++) {
    /* at least: the UCRT's _aligned_msize counts what the header left */
    check_msize(al[i].p, _aligned_msize(al[i].p, al[i].align, al[i].off),
                tag_size(head_tag(al[i].p)), "_aligned_msize");
    al_free_slot(&al[i]);
  }
}

/* ------------------------------------------------------------------ */
/* game: long-lived assets, many short-lived allocations per frame     */

#define ASSETS 1500
#define FRAME_ALLOCS 2000
#define FRAME_VECS 8
static void *assets[ASSETS];
static void *transient[FRAME_ALLOCS];

static size_t asset_size(uint64_t *r) {
  uint64_t x = rng(r);
  return (x & 7) == 0 ? 16384 + (size_t)((x >> 8) % 49152) : 1024 + (size_t)((x >> 8) % 7168);
}

static void game_warm(uint64_t *r) {
  for (size_t i = 0; i < ASSETS; i++) {
    size_t n = asset_size(r);
    unsigned char *p = xmalloc(n);
    memset(p, (int)(i & 0xFF), n); /* load the asset */
    stamp(p, mktag(n, ORIGIN_OLD, rng(r)));
    assets[i] = p;
  }
  R.old_blocks = ASSETS;
}

static void game_run(uint64_t *r) {
  size_t frames = scaled(1000);
  uint64_t check = 0, ops = 0;
  static const char *names[] = {"player", "enemy_goblin_03", "particle.fx",
                                "ui/hud/minimap", "sound/footstep_gravel_2.wav"};
  for (size_t f = 0; f < frames; f++) {
    halfway(f, frames);
    /* transient allocations: events, strings, scratch */
    for (size_t i = 0; i < FRAME_ALLOCS; i++) {
      size_t n = 16 + (size_t)(rng(r) % 496);
      void *p = xmalloc(n);
      stamp(p, mktag(n, ORIGIN_NEW, rng(r)));
      transient[i] = p;
    }
    /* per-frame vectors (draw lists) grown by doubling */
    for (int v = 0; v < FRAME_VECS; v++) {
      uint64_t *vec = NULL;
      size_t len = 0, cap = 0, count = 16 + (size_t)(rng(r) % 96);
      uint64_t sum = 0;
      for (size_t j = 0; j < count; j++) {
        if (len == cap) {
          cap = cap ? cap * 2 : 4;
          uint64_t *nv = realloc(vec, cap * sizeof *vec);
          if (!nv) fail("realloc returned NULL");
          vec = nv;
          ops++;
        }
        vec[len++] = f * 1000 + j;
        sum += f * 1000 + j;
      }
      for (size_t j = 0; j < len; j++) sum -= vec[j];
      if (sum) fail("draw list corrupted");
      free(vec);
    }
    /* names */
    for (int s = 0; s < 64; s++) {
      const char *src = names[(f + (size_t)s) % 5];
      char *d = _strdup(src);
      if (!d || strcmp(d, src)) fail("_strdup mismatch");
      check += (unsigned char)d[0];
      free(d);
    }
    /* streaming: resize or replace a few assets */
    for (int s = 0; s < 12; s++) {
      uint64_t x = rng(r);
      size_t i = (size_t)(x % ASSETS);
      uint64_t t = verify(assets[i], 0);
      unsigned o = tag_origin(t);
      size_t n = asset_size(r);
      if ((x >> 40) % 4 != 0) {
        void *q = realloc(assets[i], n);
        if (!q) fail("realloc returned NULL");
        verify_moved(q, t, n);
        if (o == ORIGIN_OLD) R.old_reallocs++;
        stamp(q, mktag(n, o == ORIGIN_NEW ? ORIGIN_NEW : ORIGIN_LINEAGE, rng(r)));
        assets[i] = q;
      } else {
        if (o == ORIGIN_OLD) R.old_frees++;
        free(assets[i]);
        assets[i] = xmalloc(n);
        stamp(assets[i], mktag(n, ORIGIN_NEW, rng(r)));
      }
      ops++;
    }
    /* end of frame */
    for (size_t i = 0; i < FRAME_ALLOCS; i++) {
      check += verify(transient[i], 0);
      free(transient[i]);
    }
    ops += 2 * FRAME_ALLOCS + 2 * 64;
    if (f % 50 == 49)
      for (size_t i = 0; i < ASSETS; i++) check += verify(assets[i], 0);
  }
  R.ops = ops;
  R.check = check;
}

static void game_account(void) {
  for (size_t i = 0; i < ASSETS; i++)
    account(assets[i], tag_origin(head_tag(assets[i])));
}

static void game_free(void) {
  for (size_t i = 0; i < ASSETS; i++) {
    verify_sized(assets[i]);
    free(assets[i]);
  }
}

/* ------------------------------------------------------------------ */
/* migrate: many live old blocks of every kind, each reallocated once  */

#define MIG_MAX 200000
typedef struct {
  void *p;
  unsigned char kind; /* 0 malloc, 1 calloc, 2 _strdup, 3 _aligned_malloc */
} mig_t;
static mig_t mig[MIG_MAX];
static size_t mig_n;

static void migrate_warm(uint64_t *r) {
  char str[256];
  mig_n = scaled(100000);
  if (mig_n > MIG_MAX) mig_n = MIG_MAX;
  for (size_t i = 0; i < mig_n; i++) {
    uint64_t x = rng(r);
    unsigned kind = (unsigned)(x % 20);
    kind = kind < 12 ? 0 : kind < 15 ? 1 : kind < 17 ? 2 : 3;
    size_t n = 16 + (size_t)((x >> 8) % 1008);
    void *p;
    if (kind == 0) p = malloc(n);
    else if (kind == 1) p = calloc(1, n);
    else if (kind == 2) {
      n = 16 + (size_t)((x >> 8) % 200);
      memset(str, 'a' + (int)(i % 26), n - 1);
      str[n - 1] = 0;
      p = _strdup(str);
    } else p = _aligned_malloc(n, 64);
    if (!p) fail("warm-up allocation of kind %u returned NULL", kind);
    stamp(p, mktag(n, ORIGIN_OLD, rng(r)));
    mig[i].p = p;
    mig[i].kind = (unsigned char)kind;
  }
  R.old_blocks = mig_n;
}

static void migrate_run(uint64_t *r) {
  uint64_t check = 0, bytes = 0;
  (void)r;
  for (size_t i = 0; i < mig_n; i++) {
    uint64_t t = verify(mig[i].p, 0);
    size_t n = tag_size(t), m = n + n / 4 + 16;
    void *q = mig[i].kind == 3 ? _aligned_realloc(mig[i].p, m, 64) : realloc(mig[i].p, m);
    if (!q) fail("realloc of an old block returned NULL");
    if (mig[i].kind == 3 && ((uintptr_t)q & 63)) fail("_aligned_realloc lost the alignment");
    verify_moved(q, t, m);
    stamp(q, mktag(m, ORIGIN_LINEAGE, t));
    mig[i].p = q;
    check += t;
    bytes += n;
  }
  R.old_reallocs = mig_n;
  R.ops = mig_n;
  R.bytes = bytes;
  R.check = check;
}

static void migrate_account(void) {
  for (size_t i = 0; i < mig_n; i++) account(mig[i].p, ORIGIN_LINEAGE);
}

static void migrate_free(void) {
  for (size_t i = 0; i < mig_n; i++) {
    if (mig[i].kind == 3) {
      uint64_t t = verify(mig[i].p, 0);
      check_msize(mig[i].p, _aligned_msize(mig[i].p, 64, 0), tag_size(t), "_aligned_msize");
    } else {
      verify_sized(mig[i].p);
    }
    if (mig[i].kind == 3) _aligned_free(mig[i].p);
    else free(mig[i].p);
  }
}

/* ------------------------------------------------------------------ */
/* percall: malloc/free pairs, the cost of one call through the hook   */

#define BALLAST 10000
static void *ballast[BALLAST];

static void percall_warm(uint64_t *r) {
  for (size_t i = 0; i < BALLAST; i++) {
    size_t n = small_size(r);
    ballast[i] = xmalloc(n);
    stamp(ballast[i], mktag(n, ORIGIN_OLD, rng(r)));
  }
  R.old_blocks = BALLAST;
}

static void percall_run(uint64_t *r) {
  size_t pairs = scaled(4000000);
  uint64_t sum = 0, expect = 0;
  (void)r;
  for (size_t i = 0; i < pairs; i++) {
    halfway(i, pairs);
    volatile unsigned char *p = malloc(16 + (i & 7) * 16);
    if (!p) fail("malloc returned NULL");
    p[0] = (unsigned char)i;
    sum += p[0];
    expect += (unsigned char)i;
    free((void *)p);
  }
  if (sum != expect) fail("percall checksum mismatch");
  R.ops = 2 * pairs; /* calls */
  R.check = sum;
}

static void percall_account(void) {
  for (size_t i = 0; i < BALLAST; i++) account(ballast[i], ORIGIN_OLD);
}

static void percall_free(void) {
  for (size_t i = 0; i < BALLAST; i++) {
    verify_sized(ballast[i]);
    free(ballast[i]);
  }
}

/* ------------------------------------------------------------------ */

typedef struct {
  const char *name;
  void (*warm)(uint64_t *);
  void (*run)(uint64_t *);
  void (*account)(void);
  void (*cleanup)(void);
} workload_t;

static const workload_t WORKLOADS[] = {
    {"churn", churn_warm, churn_run, churn_account, churn_free},
    {"mt-churn", mt_warm, mt_run, mt_account, mt_free},
    {"realloc", realloc_warm, realloc_run, realloc_account, realloc_free},
    {"aligned", aligned_warm, aligned_run, aligned_account, aligned_free},
    {"game", game_warm, game_run, game_account, game_free},
    {"migrate", migrate_warm, migrate_run, migrate_account, migrate_free},
    {"percall", percall_warm, percall_run, percall_account, percall_free},
};

/* Watches the first bytes of ucrtbase's malloc/free/realloc for the
 * moment they change: the hooks going live, seen from inside. From the
 * main thread, while it waits for the harness's "go": a thread of its own
 * would cost the late variants ~1 MB under Wine, which the plain program
 * does not pay (every new thread's start clears 960 KiB of its stack, and
 * the last thread to have exited keeps its stack mapped). */
static double g_hook_seen_ms = -1;
static double g_warm_ms;
static const unsigned char *g_watched[3];
static unsigned char g_watched_bytes[3][16];

static void watch_start(void) {
  HMODULE u = GetModuleHandleA("ucrtbase.dll");
  const char *names[] = {"malloc", "free", "realloc"};
  g_warm_ms = now_ms();
  for (int i = 0; u && i < 3; i++) {
    g_watched[i] = (const unsigned char *)GetProcAddress(u, names[i]);
    if (g_watched[i]) memcpy(g_watched_bytes[i], g_watched[i], 16);
  }
}

static void watch_look(void) {
  if (g_hook_seen_ms >= 0) return;
  for (int i = 0; i < 3; i++)
    if (g_watched[i] && memcmp(g_watched_bytes[i], g_watched[i], 16) != 0) {
      g_hook_seen_ms = now_ms() - g_warm_ms;
      return;
    }
}

/* read_line, looking at the watched bytes every millisecond until a line
 * has begun to arrive (stdin a pipe, as the harness gives it; any other
 * stdin is read at once, unwatched). */
static void read_line_watching(char *buf, size_t cap) {
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  DWORD avail = 0;
  while (PeekNamedPipe(in, NULL, 0, NULL, &avail, NULL) && avail == 0) {
    watch_look();
    Sleep(1);
  }
  watch_look();
  read_line(buf, cap);
}

/* User + kernel time of the whole process (all threads), in ms. */
static double cpu_ms(void) {
  FILETIME c, e, k, u;
  if (!GetProcessTimes(GetCurrentProcess(), &c, &e, &k, &u)) return -1;
  ULARGE_INTEGER a, b;
  a.LowPart = k.dwLowDateTime;
  a.HighPart = k.dwHighDateTime;
  b.LowPart = u.dwLowDateTime;
  b.HighPart = u.dwHighDateTime;
  return (double)(a.QuadPart + b.QuadPart) / 10000.0;
}

static double load_dll(const char *path) {
  double t0 = now_ms();
  if (!LoadLibraryA(path)) fail("LoadLibrary(%s) failed with error %lu", path, GetLastError());
  return now_ms() - t0;
}

int main(int argc, char **argv) {
  LARGE_INTEGER f;
  QueryPerformanceFrequency(&f);
  g_qpf = (double)f.QuadPart;
  const char *load = NULL, *late = NULL;
  int wait = 0;
  double load_ms = -1;
  for (int i = 0; i < argc; i++) /* heapshift at start: before anything else */
    if (!strcmp(argv[i], "--load") && i + 1 < argc) load_ms = load_dll(load = argv[i + 1]);
#ifdef BENCH_MIMALLOC
#if MI_MALLOC_VERSION >= 213
  /* mimalloc 2.1.3+ and v3 leave their "preloading" state only in their
   * loader hook, registered on Windows with MSVC-only TLS-callback pragmas
   * that GCC ignores (v2.1.2 used a GCC constructor). Left preloading, v3
   * creates no arenas and takes every page straight from the OS, and reads
   * no MIMALLOC_ options: 6x slower on game. The hook DLL calls the same
   * hook (dll/mimalloc_unit.c hs_mi_load). */
  {
    extern bool _mi_preloading(void);
    extern void _mi_auto_process_init(void);
    if (_mi_preloading()) _mi_auto_process_init();
  }
#endif
  mi_process_init(); /* GCC ignores mimalloc's MSVC TLS-callback init */
#endif
  const workload_t *w = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--scale") && i + 1 < argc) g_scale = atof(argv[++i]);
    else if (!strcmp(a, "--threads") && i + 1 < argc) g_threads = atoi(argv[++i]);
    else if (!strcmp(a, "--seed") && i + 1 < argc) g_seed = strtoull(argv[++i], NULL, 0) | 1;
    else if (!strcmp(a, "--load") && i + 1 < argc) i++;
    else if (!strcmp(a, "--late-load") && i + 1 < argc) late = argv[++i];
    else if (!strcmp(a, "--wait")) wait = 1;
    else if (!strcmp(a, "--msize-exact")) g_msize_exact = 1;
    else if (a[0] != '-' && !w) {
      for (size_t k = 0; k < sizeof WORKLOADS / sizeof *WORKLOADS; k++)
        if (!strcmp(a, WORKLOADS[k].name)) w = &WORKLOADS[k];
      if (!w) {
        g_workload = a;
        fail("unknown workload");
      }
    } else {
      fail("unknown argument %s", a);
    }
  }
  if (!w) {
    outf("usage: %s churn|mt-churn|realloc|aligned|game|migrate|percall "
         "[--scale F] [--threads N] [--seed N] [--load DLL] [--late-load DLL] [--wait]\n",
         argv[0]);
    return 2;
  }
  g_workload = w->name;
  uint64_t r = g_seed;
  w->warm(&r);

  double late_ms = -1;
  if (wait) {
    char line[64];
    watch_start();
    outf("warm %lu %llu\n", GetCurrentProcessId(), (unsigned long long)R.old_blocks);
    read_line_watching(line, sizeof line);
    if (strcmp(line, "go")) fail("expected \"go\" on stdin, got \"%s\"", line);
    if (late) late_ms = load_dll(late);
    watch_look(); /* our own load's patch, or one that came with the line */
  } else if (late) {
    late_ms = load_dll(late);
  }

  int profiling = GetEnvironmentVariableA("HEAPSHIFT_BENCH_MODULES", NULL, 0) != 0;
  if (profiling) {
    /* for profilers: where the allocator's modules are mapped (printed
     * after a late load, right before the timed phase) */
    const char *mods[] = {"heapshift.dll", "ucrtbase.dll", "kernel32.dll",
                          "ntdll.dll", "workload-ucrt.exe", "workload-mimalloc.exe",
                          "workload-mimalloc-other.exe", NULL};
    for (int i = 0; mods[i]; i++)
      outf("module %s %p\n", mods[i], (void *)GetModuleHandleA(mods[i]));
  }

  double c0 = cpu_ms(), t0 = now_ms();
  w->run(&r);
  double t1 = now_ms();
  R.ms = t1 - t0;
  R.cpu_ms = cpu_ms() - c0;
  /* The timed phase on the performance counter's clock, in ns (Wine's is
   * CLOCK_MONOTONIC_RAW: `perf record -k monotonic_raw` shares it). */
  if (profiling) outf("phase %.0f %.0f\n", t0 * 1e6, t1 * 1e6);

  PROCESS_MEMORY_COUNTERS pmc;
  memset(&pmc, 0, sizeof pmc);
  pmc.cb = sizeof pmc;
  GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc);

  heap_snapshot();
  w->account();

  if (wait) {
    char line[64];
    outf("done\n");
    read_line(line, sizeof line);
    if (strcmp(line, "quit")) fail("expected \"quit\" on stdin, got \"%s\"", line);
  }
  w->cleanup();

  outf("result {\"workload\":\"%s\",\"allocator\":\"%s\",\"ok\":true,"
       "\"ms\":%.3f,\"second_half_ms\":%.3f,\"cpu_ms\":%.3f,\"ops\":%llu,\"ns_per_op\":%.2f,\"check\":\"%016llx\","
       "\"threads\":%d,\"scale\":%g,"
       "\"old_blocks\":%llu,\"old_reallocs\":%llu,\"old_frees\":%llu,\"bytes\":%llu,"
       "\"heapwalk_ok\":%s,\"live\":%llu,\"live_in_ucrt_heap\":%llu,"
       "\"lineage_live\":%llu,\"lineage_in_ucrt_heap\":%llu,"
       "\"new_live\":%llu,\"new_in_ucrt_heap\":%llu,"
       "\"peak_working_set\":%llu,\"peak_commit\":%llu,"
       "\"load_ms\":%.3f,\"late_load_ms\":%.3f,\"hook_seen_ms\":%.3f,\"dll\":%s}\n",
       w->name, ALLOCATOR, R.ms, g_half_ms < 0 ? -1.0 : t1 - g_half_ms, R.cpu_ms, (unsigned long long)R.ops,
       R.ops ? R.ms * 1e6 / (double)R.ops : 0.0, (unsigned long long)R.check,
       !strcmp(w->name, "mt-churn") ? g_threads : 1, g_scale,
       (unsigned long long)R.old_blocks, (unsigned long long)R.old_reallocs,
       (unsigned long long)R.old_frees, (unsigned long long)R.bytes,
       g_heapwalk_ok ? "true" : "false", (unsigned long long)g_live,
       (unsigned long long)g_live_in_heap, (unsigned long long)g_lineage,
       (unsigned long long)g_lineage_in_heap, (unsigned long long)g_new,
       (unsigned long long)g_new_in_heap, (unsigned long long)pmc.PeakWorkingSetSize,
       (unsigned long long)pmc.PeakPagefileUsage, load_ms, late_ms, g_hook_seen_ms,
       load ? "\"start\"" : late ? "\"late-load\"" : "null");
  return 0;
}
