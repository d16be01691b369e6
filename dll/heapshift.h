/* heapshift: takes over a running program's UCRT allocator and hands it to
 * mimalloc. Shared declarations of the hook DLL: the compiler and the
 * architecture first, then the hooked surface (listed ONCE, in HS_SURFACE;
 * HS_HOOKS adds each function's `_o_` twin), then each file's interface. The stats block's layout, which readers
 * outside the DLL decode, is heapshift_stats.h's. */
#ifndef HEAPSHIFT_H
#define HEAPSHIFT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <windows.h>
#if defined(_MSC_VER) && defined(_M_IX86) && !defined(__clang__)
#include <emmintrin.h> /* hs_store64, hs_count_in */
#endif

/* ---- the compiler ----------------------------------------------------- */

/* HS_CALLER(): the return address of the function it is written in, or,
 * written in an always-inline one, of the function that took it in. */
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define HS_LIKELY(x) (x)
#define HS_NOINLINE __declspec(noinline)
#define HS_ALWAYS_INLINE __forceinline
#define HS_CALLER() _ReturnAddress()
#else
#define HS_LIKELY(x) __builtin_expect(!!(x), 1)
#define HS_NOINLINE __attribute__((noinline))
#define HS_ALWAYS_INLINE inline __attribute__((always_inline))
#define HS_CALLER() __builtin_return_address(0)
#endif

/* ---- the architecture: x64 or x86 (32-bit, WOW64) ---------------------- */

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
 * TlsExpansionSlots, ProcessEnvironmentBlock; and the PEB's LoaderLock. */
#if HS_X64
#define HS_TEB_READ(off) __readgsqword(off)
#define HS_TEB_THREAD_ID 0x48
#define HS_TEB_TLS_SLOTS 0x1480
#define HS_TEB_TLS_EXPANSION 0x1780
#define HS_TEB_PEB 0x60
#define HS_PEB_LOADER_LOCK 0x110
#else
#define HS_TEB_READ(off) __readfsdword(off)
#define HS_TEB_THREAD_ID 0x24
#define HS_TEB_TLS_SLOTS 0xE10
#define HS_TEB_TLS_EXPANSION 0xF94
#define HS_TEB_PEB 0x30
#define HS_PEB_LOADER_LOCK 0xA0
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
 * counter. x64: a plain aligned store; x86: SSE2 movq (built -msse2). */
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

/* ---- the version (the stats header's dll_version, heapshift_anchor) ---- */

#define HEAPSHIFT_VERSION_MAJOR 0
#define HEAPSHIFT_VERSION_MINOR 1
#define HEAPSHIFT_VERSION_PATCH 0
#define HEAPSHIFT_VERSION                                    \
  ((HEAPSHIFT_VERSION_MAJOR << 16) | (HEAPSHIFT_VERSION_MINOR << 8) | \
   HEAPSHIFT_VERSION_PATCH)

#include "heapshift_stats.h"

/* ------------------------------------------------------------------------
 * The hooked surface.
 *
 * X(name, hook, flags): `name` is the ucrtbase export, `hook` our
 * replacement, `flags`:
 * - HS_REQUIRED: installation is refused, nothing is patched, unless
 *   ucrtbase exports this entry and it can be patched;
 * - HS_TAKES_BLOCK: it frees, sizes or resizes a block the program hands
 *   it. If ucrtbase exports it, it must be patched, or nothing is: left as
 *   it was, it would take mimalloc's blocks for the CRT heap's, and
 *   HeapFree or HeapSize of a foreign pointer ends a Windows process.
 *   (Microsoft's build may inline _free_base's HeapFree into any of them.)
 * - 0: left alone when it cannot be patched (an allocation there comes
 *   from the CRT heap, or through a hooked entry, and is an old block to
 *   every hook).
 * Each export is decoded down to the code that does the work (patch.c:
 * `jmp`s and forwarding wrappers are followed), which is where the jump
 * goes: for `_msize`, `_expand` and `_recalloc`, the non-exported `_base`
 * implementations the CRT also calls directly.
 * Exports the loaded ucrtbase lacks (the `_o_` variants, say) are skipped.
 * Several names may reach the same code (aliases, `jmp` wrappers): each code
 * site is patched once. Functions whose UCRT code only calls entry points
 * hooked here are left alone (`_dupenv_s`/`_wdupenv_s`: calloc under the
 * environment lock), so their blocks still come from mimalloc.
 * ---------------------------------------------------------------------- */
#define HS_REQUIRED 1u
#define HS_TAKES_BLOCK 2u
/* - HS_WRAPS_BASE: Microsoft's ucrtbase implements it as a wrapper around a
 *   non-exported `_base` function that the CRT also calls directly. In any
 *   ucrtbase but Wine's builtin one (whose functions do the work themselves)
 *   it must decode to another function, or nothing is patched: the CRT's
 *   own calls to the `_base` one would reach HeapSize with mimalloc's
 *   blocks (reason unsafe-site). On x86 the wrapper may hand the `_base`
 *   function its arguments in registers; its site then gets a register
 *   adapter (patch.c). */
#define HS_WRAPS_BASE 4u
#define HS_R_TB (HS_REQUIRED | HS_TAKES_BLOCK)

/* The surface once: Y(X, name, hook, flags) for each function. */
#define HS_SURFACE(Y, X)                                                      \
  Y(X, malloc, hs_malloc, HS_REQUIRED)                                        \
  Y(X, calloc, hs_calloc, HS_REQUIRED)                                        \
  Y(X, realloc, hs_realloc, HS_R_TB)                                          \
  Y(X, free, hs_free, HS_R_TB)                                                \
  Y(X, _malloc_base, hs_malloc, HS_REQUIRED)                                  \
  Y(X, _calloc_base, hs_calloc, HS_REQUIRED)                                  \
  Y(X, _realloc_base, hs_realloc, HS_R_TB)                                    \
  Y(X, _free_base, hs_free, HS_R_TB)                                          \
  Y(X, _msize, hs_msize, HS_R_TB | HS_WRAPS_BASE)                             \
  Y(X, _expand, hs_expand, HS_R_TB | HS_WRAPS_BASE)                           \
  Y(X, _recalloc, hs_recalloc, HS_R_TB | HS_WRAPS_BASE)                       \
  Y(X, _strdup, hs_strdup, 0)                                                 \
  Y(X, _wcsdup, hs_wcsdup, 0)                                                 \
  Y(X, _mbsdup, hs_strdup, 0) /* same semantics; Wine aliases them */         \
  Y(X, _aligned_malloc, hs_aligned_malloc, 0)                                 \
  Y(X, _aligned_realloc, hs_aligned_realloc, HS_TAKES_BLOCK)                  \
  Y(X, _aligned_recalloc, hs_aligned_recalloc, HS_TAKES_BLOCK)                \
  Y(X, _aligned_msize, hs_aligned_msize, HS_TAKES_BLOCK)                      \
  Y(X, _aligned_free, hs_aligned_free, HS_TAKES_BLOCK)                        \
  Y(X, _aligned_offset_malloc, hs_aligned_offset_malloc, 0)                   \
  Y(X, _aligned_offset_realloc, hs_aligned_offset_realloc, HS_TAKES_BLOCK)    \
  Y(X, _aligned_offset_recalloc, hs_aligned_offset_recalloc, HS_TAKES_BLOCK)  \
  Y(X, _heapmin, hs_heapmin, 0)

/* Each function as itself, and as its `_o_` twin (`_o_malloc`,
 * `_o__msize` …: the same code in ucrtbase's `_o_` exports, which only some
 * builds have): the same hook and flags, never required (and a twin may
 * lead to its `_base` function through the plain export). */
#define HS_PLAIN(X, name, hook, flags) X(name, hook, flags)
#define HS_O_TWIN(X, name, hook, flags) \
  X(_o_##name, hook, (flags) & ~(HS_REQUIRED | HS_WRAPS_BASE))
#define HS_HOOKS(X) HS_SURFACE(HS_PLAIN, X) HS_SURFACE(HS_O_TWIN, X)

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
  /* HeapSize's flags for old blocks: HEAP_NO_SERIALIZE under Wine 10.x,
   * else 0 (hooks.c's old_size_flags says why). */
  DWORD old_size_flags;
} hs_crt;
extern hs_crt hs_target;

/* HEAPSHIFT_NO_MIGRATE=1 (read at load): the realloc family resizes old
 * blocks on the old heap instead of moving them into mimalloc. */
extern BOOL hs_no_migrate;

/* Resolves hs_target from the loaded ucrtbase; FALSE if it is not there.
 * Also arms the exit watch: an atexit entry there at once for a load at
 * start; for a load mid-run, heapshift_arm_exit_watch (the injector's call)
 * or a later hook call (see "process exit" in hooks.c). */
BOOL hs_crt_resolve(void);
/* DllMain's `reserved` was not NULL: loaded with the program (hooks.c). */
extern BOOL hs_loaded_at_start;
/* DLL_PROCESS_DETACH: every other thread is gone, mimalloc is off limits. */
void hs_process_detach(void);
/* The event heapshift's injector holds while it loads the DLL mid-run (by
 * pid; src/injection.ts names it too): the atexit entry is then left to
 * its heapshift_arm_exit_watch call. */
#define HS_ARM_EVENT_FORMAT L"Local\\heapshift-arm-%lu"
/* A mid-run load by heapshift's injector (its event is there): DllMain runs
 * on the injector's own remote thread. */
BOOL hs_injector_loading(void);
/* Asks for the exit watch's atexit entry if nobody has: 1 if this call got
 * it, else 0 (armed already, loaded at start, or exiting). Waits while
 * exit() runs on another thread. */
int hs_arm_exit_watch(void);

/* ------------------------------------------------------------------------
 * mimalloc glue (mimalloc_unit.c, the one translation unit that includes
 * mimalloc's static.c, so it may use mimalloc's internals).
 * ---------------------------------------------------------------------- */
/* mi_process_load() + mi_process_init(). Idempotent. HS_R_NONE, or why
 * nothing may call mimalloc: HS_R_TLS (last error ERROR_NO_MORE_ITEMS)
 * when it could not get its TLS indexes (it was not initialised),
 * HS_R_PAGE_MAP when its page map could not be committed whole for the
 * hooks' lookup. (mimalloc never takes an FLS index in this build; thread
 * exit is DLL_THREAD_DETACH's.) */
unsigned hs_mi_load(void);
/* Ownership: O(1), never touches foreign memory. */
BOOL hs_mi_owns(const void* p);
/* Size of a mimalloc block, what _msize reports: the exact size
 * asked for (MI_PADDING builds; the whole block once a write past that
 * size damaged the record), else the usable size. Never 0. */
size_t hs_mi_size(void* p);
/* Every byte of the block, padding included: what a move carries over, so
 * writes past the requested size inside the block survive it. */
size_t hs_mi_capacity(void* p);
/* Resizes a mimalloc block in place when the new size fits its capacity;
 * returns FALSE when it does not. With `limit_waste` (realloc) a size under
 * half the capacity is refused too, so the block moves to a smaller one
 * (_expand keeps any shrink in place). */
BOOL hs_mi_resize_in_place(void* p, size_t size, BOOL limit_waste);
void hs_mi_thread_done(void);
/* This thread has a mimalloc heap (mi_thread_done would release it). */
BOOL hs_mi_thread_active(void);
/* Gives back what mimalloc holds but does not use (_heapmin). */
void hs_mi_collect(void);
unsigned hs_mi_version(void);

/* ------------------------------------------------------------------------
 * Stats (stats.c): the shared block (its layout: heapshift_stats.h) and
 * the counters.
 * ---------------------------------------------------------------------- */
/* FALSE if another heapshift copy already took this process over. */
BOOL hs_stats_open(void);
void hs_stats_set_names(const char* const* names, unsigned count);
void hs_stats_set_state(enum hs_state state, uint32_t reason, DWORD error);
void hs_stats_mark_live(uint32_t patch_sites, uint32_t reason,
                        DWORD error);
/* The header's trim fields, for trim.c's thread. */
volatile hs_trim_stats* hs_stats_trim(void);
/* A counter summed over every stripe (for the trimmer's pacing). */
int64_t hs_stats_total(hs_counter which);
/* The block's security (stats_access.c): its own DACL (STATS.md, "Who may
 * open it"); NULL, for the creator's default one, when it cannot be made. */
SECURITY_ATTRIBUTES* hs_stats_access(void);

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
/* The TLS slots the hooks need (counting, mimalloc 2's heap cache); FALSE
 * when there are none left. */
BOOL hs_count_init(void);
/* Gives those slots back (an installation that does not go live). */
void hs_count_release(void);

/* The stripe this thread counts in, or NULL (count with hs_count_slow). */
static inline hs_stripe* hs_count_stripe(void) {
  return (hs_stripe*)hs_tls_slot(hs_count_slot);
}

static inline void hs_count_in(hs_stripe* s, hs_counter which, int64_t n) {
  volatile int64_t* c = &s->c[which];
#if HS_X64
  hs_store64(c, *c + n); /* readers never see it torn */
#elif defined(__GNUC__)
  /* x86: the 8-byte add in an SSE2 register, loaded and stored whole (a
   * 64-bit add in two 32-bit registers goes through the stack to be
   * stored in one piece: a stalled store on every call). In asm: an
   * __m128i variable would make GCC realign the hooks' stack. One call's
   * count is below 4 GiB on x86 (a size_t). */
  uint32_t add = (uint32_t)n;
  __asm__("movq %1, %%xmm0\n\t"
          "movd %2, %%xmm1\n\t"
          "paddq %%xmm1, %%xmm0\n\t"
          "movq %%xmm0, %0"
          : "=m"(*c)
          : "m"(*c), "r"(add)
          : "xmm0", "xmm1");
#else
  __m128i v = _mm_loadl_epi64((const __m128i*)c);
  v = _mm_add_epi64(v, _mm_cvtsi32_si128((int)(uint32_t)n));
  _mm_storel_epi64((__m128i*)c, v);
#endif
}

static inline void hs_count(hs_counter which, int64_t n) {
  hs_stripe* s = hs_count_stripe();
  if (HS_LIKELY(s != NULL)) {
    hs_count_in(s, which, n);
    return;
  }
  hs_count_slow(which, n);
}

/* ------------------------------------------------------------------------
 * Trimming the old heap (trim.c): a thread started once the hooks are live
 * gives the CRT heap's free pages back while old blocks leave it (Wine:
 * MEM_RESET of whole pages inside free blocks under the heap lock;
 * Windows: HeapOptimizeResources). Its state and counters: the stats
 * header's trim fields.
 * ---------------------------------------------------------------------- */
/* Before the jumps are written (entry.c): decides how the old heap is
 * trimmed, and arms the hooks' resets (hs_trim_on_free), which must be on
 * from the first hooked free: the installer may be descheduled for a while
 * once the jumps are live. */
void hs_trim_arm(void);
/* Once the hooks are live (entry.c): starts the trimmer, or records why
 * not. */
void hs_trim_start(void);
/* _heapmin: wakes the walk's thread (never waits for it), or runs Windows'
 * way (HeapOptimizeResources) here, on the caller's thread. */
void hs_trim_request(void);
/* Wine (set before the hooks are live): the hooks reset an old block's
 * whole pages before they free it, hs_trim_block(block, its HeapSize). */
extern BOOL hs_trim_on_free;
void hs_trim_block(void* block, size_t n);
/* ntdll's wine_get_version(): Wine's version, e.g. "10.0"; NULL off Wine. */
const char* hs_wine_version(void);
/* The flags of `heap` if it is laid out as the NT heap (Wine keeps that
 * layout: debuggers read it), else FALSE. */
BOOL hs_nt_heap_flags(HANDLE heap, uint32_t* flags);
/* exit() has begun (hooks.c): the trimmer makes no more heap calls, and
 * this returns once it is out of the one it may be in. */
void hs_trim_stop(void);
/* Under Wine: gives back the pages of the calling thread's stack below its
 * frame, on heapshift's own threads only: the trimmer's as it starts, and
 * (hs_injector_stack_release) the injector's, in DllMain (with
 * hs_injector_loading) and the exports it calls last. */
void hs_stack_release(void);
/* The same on the injector's thread only: one that began in private
 * memory, where its stub is (a program's threads begin in an image). */
void hs_injector_stack_release(void);

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
  HANDLE file;      /* the file it was mapped from (hs_code_file_open) */
  uintptr_t delta;  /* its base minus the file's ImageBase */
  /* its Control Flow Guard function table when it carries XFG type hashes
   * (8 data bytes before each flagged function): entries of `xfg_stride`
   * bytes, an RVA and then flags */
  const uint8_t* xfg_table;
  DWORD xfg_count;
  DWORD xfg_stride;
} hs_code;

void hs_code_open(hs_code* m, HMODULE h);
/* Opens the module's file when it is the image that was mapped (else
 * hs_code_file_same answers -1); hs_code_file_close closes it. */
void hs_code_file_open(hs_code* m);
void hs_code_file_close(hs_code* m);
/* Whether [p, p + n) (n <= 64, in one section) holds the file's bytes,
 * relocated: 1 yes, 0 no (someone wrote there), -1 cannot be told. */
int hs_code_file_same(const hs_code* m, const uint8_t* p, size_t n);
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
/* x64: an instruction that reads the module's import slot of one of
 * `names` (NULL-ended; `call [rip+x]`, `jmp [rip+x]`, a load of the slot)
 * outside every function that begins at one of `entries` (the function a
 * split-off part belongs to, by its chained unwind data; code in no .pdata
 * function counts as outside): the first such, or NULL. x86 (no .pdata): a
 * reference to the slot (by its base relocation) in no instruction decoded
 * from the entries along their jumps and branches. The module's base when
 * its imports cannot be read by name (then nothing tells). */
const uint8_t* hs_code_import_use_outside(const hs_code* m,
                                          const char* const names[],
                                          uint8_t* const entries[],
                                          unsigned n);

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
/* Whether ucrtbase's exports `names` (NULL-ended) are its own code, as far
 * as can be told: no jump out of it, no jump's shape, and (when its file is
 * the mapped image) the file's bytes at each entry. */
BOOL hs_patch_exports_untouched(const char* const* names);

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
void hs_log(const char* fmt, ...);
/* ntdll's export `name`, or NULL: calls kernel32 has no counterpart for,
 * without an import of ntdll (Wine's builtins aside, ntdll is always
 * loaded and initialised first). */
static inline FARPROC hs_ntdll_fn(const char* name) {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != NULL ? GetProcAddress(ntdll, name) : NULL;
}

/* A switch set in the environment, and not "0" (entry.c). */
BOOL hs_env_flag(const wchar_t* name);

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
  unsigned protect;         /* the Nth VirtualProtect to writable fails
                               (1655, Arbitrary Code Guard's error) */
  BOOL site_changed;        /* a site's bytes differ from the plan */
  DWORD foreign_thread;     /* the snapshot lists this id (another
                               process's thread) as one of ours */
  unsigned suspend_refused; /* SuspendThread refuses in the first N
                               attempts (a thread in its kernel exit) */
  unsigned retry_sleep;     /* ms between attempts (Windows: Sleep(1) is
                               ~15.6 ms at the default timer resolution) */
  BOOL trim_optimize;       /* the trimmer uses Windows' way under Wine */
  BOOL trim_walk_only;      /* Wine: the walk alone, no resets in free */
  unsigned live_pause;      /* ms the installer stops for once the jumps
                               are live (a thread descheduled there) */
  char refuse_site[40];     /* the site this export decodes to is refused */
  BOOL not_wine;            /* Wine's ucrtbase is taken for Microsoft's */
  BOOL heap_calls;          /* Wine's ucrtbase's Win32 heap calls are
                               checked as Microsoft's are */
  BOOL page_map;            /* mimalloc's page map cannot be committed */
  BOOL seg_map;             /* v2: no leaf of the ownership map can be
                               committed */
  BOOL pin;                 /* the DLL cannot pin itself */
  unsigned busy_takeovers;  /* every attempt of the first N takeovers (the
                               load's, then each heapshift_retry) finds a
                               site busy */
  BOOL tls_oom;             /* the private heap of TLS blocks cannot grow */
  BOOL no_file;             /* ucrtbase's file cannot be compared */
  BOOL no_stats;            /* no stats block can be made (the counters go
                               to the private block) */
} hs_test_faults;
extern hs_test_faults hs_faults;

#endif
