/* Thread-local storage for GCC (mingw) builds.
 *
 * mingw GCC compiles mimalloc's `__thread` variables to emulated TLS
 * (`__emutls_get_address`). libgcc's version keeps each thread's variables
 * in blocks from the CRT's calloc/realloc, through winpthread keys: once
 * calloc is hooked, a thread's first allocation asks mimalloc for its heap,
 * the TLS lookup calls calloc, which is the hook again... (a stack
 * overflow on any thread's first allocation). This file replaces libgcc's emutls: the
 * per-thread array hangs off a Win32 TLS slot read straight from the TEB
 * (TlsGetValue would clobber the caller's last-error value) and its memory
 * comes from a private Win32 heap, so a TLS access never reaches the CRT.
 *
 * A thread's blocks are released on DLL_THREAD_DETACH (hs_tls_thread_done)
 * after mi_thread_done; its slot then holds `late_marker`, an empty array
 * (so every lookup takes the slow path) that says the thread is past our
 * detach: blocks made for it afterwards (other DLLs' detach code allocating)
 * are marked late too, and released again after that call
 * (hs_thread_late_release). MSVC builds use native TLS and none of the
 * emutls part. Both keep heapshift's own small blocks in a private heap. */
#include "heapshift.h"

#if defined(__GNUC__)

typedef struct emutls_object {
  uintptr_t size;
  uintptr_t align;
  union {
    uintptr_t offset;
    void* ptr;
  } loc;
  void* templ;
} emutls_object;

typedef struct emutls_array {
  uintptr_t count;
  uintptr_t late; /* made after our DLL_THREAD_DETACH */
  void* data[];
} emutls_array;

static DWORD tls_index = TLS_OUT_OF_INDEXES;
static HANDLE tls_heap;
static uintptr_t tls_next_offset;
static volatile LONG tls_lock;
static emutls_array late_marker = {0, 1};

BOOL hs_tls_process_init(void) {
  if (tls_index != TLS_OUT_OF_INDEXES) return TRUE;
  /* Both or neither: a load that fails here stays, pinned and idle, and
   * keeps nothing it cannot use (an index is the program's to take). */
  DWORD index = TlsAlloc();
  if (index == TLS_OUT_OF_INDEXES) return FALSE;
  HANDLE heap = HeapCreate(0, 0, 0);
  if (heap == NULL) {
    TlsFree(index);
    return FALSE;
  }
  tls_heap = heap;
  tls_index = index;
  return TRUE;
}

static inline emutls_array* tls_get(void) {
  return (emutls_array*)hs_tls_slot(tls_index);
}

/* When the private heap cannot grow (a 32-bit program out of address
 * space), TLS blocks come from here: __emutls_get_address has no way to
 * fail, while mimalloc, whose variables it serves, copes with no memory
 * (the hooks then use the CRT heap). Each block has a 16-byte header with
 * its size; a freed one goes on the list of its size, which the next
 * thread's blocks (the same few sizes) take again, so threads that come
 * and go never use it up; some 80 live threads' blocks fit. */
#define RESERVE_BYTES (32u * 1024u)
#define RESERVE_LISTS 64u /* sizes up to 1 KiB, in 16-byte steps */
static uint8_t reserve[RESERVE_BYTES] __attribute__((aligned(16)));
static LONG reserve_used;        /* under reserve_lock */
static void* reserve_free[RESERVE_LISTS];
static volatile LONG reserve_lock; /* nothing allocates while it is held */

static BOOL in_reserve(const void* p) {
  const uint8_t* b = p;
  return b >= reserve && b < reserve + RESERVE_BYTES;
}

static void reserve_enter(void) {
  while (InterlockedCompareExchange(&reserve_lock, 1, 0) != 0) {
    YieldProcessor();
  }
}

static void reserve_leave(void) { InterlockedExchange(&reserve_lock, 0); }

/* A zeroed block of `size` bytes, or NULL. */
static void* reserve_alloc(size_t size) {
  size_t n = (size + 15) & ~(size_t)15;
  if (n == 0 || n / 16 > RESERVE_LISTS) return NULL;
  uint8_t* b = NULL;
  reserve_enter();
  void** list = &reserve_free[n / 16 - 1];
  if (*list != NULL) {
    b = *list;
    *list = *(void**)b;
  } else if ((size_t)reserve_used + 16 + n <= RESERVE_BYTES) {
    b = reserve + reserve_used + 16;
    ((size_t*)b)[-2] = n;
    reserve_used += (LONG)(16 + n);
  }
  reserve_leave();
  if (b != NULL) memset(b, 0, n);
  return b;
}

static void reserve_release(void* p) {
  size_t n = ((size_t*)p)[-2];
  reserve_enter();
  *(void**)p = reserve_free[n / 16 - 1];
  reserve_free[n / 16 - 1] = p;
  reserve_leave();
}

static void* tls_alloc(size_t size, BOOL zero) {
  /* (no heap: hs_tls_process_init failed, and a load that fails there
   * starts nothing that allocates) */
  void* p = hs_faults.tls_oom || tls_heap == NULL
                ? NULL
                : HeapAlloc(tls_heap, zero ? HEAP_ZERO_MEMORY : 0, size);
  return p != NULL ? p : reserve_alloc(size);
}

static void tls_free(void* p) {
  if (in_reserve(p)) reserve_release(p);
  else HeapFree(tls_heap, 0, p);
}

void* hs_private_alloc(size_t size) { return tls_alloc(size, TRUE); }
void hs_private_free(void* p) { tls_free(p); }

static void* emutls_alloc(emutls_object* obj) {
  size_t align = obj->align < sizeof(void*) ? sizeof(void*) : obj->align;
  uint8_t* raw = tls_alloc(obj->size + align + sizeof(void*), FALSE);
  if (raw == NULL) return NULL;
  uintptr_t p = ((uintptr_t)raw + sizeof(void*) + align - 1) & ~(align - 1);
  ((void**)p)[-1] = raw;
  if (obj->templ) memcpy((void*)p, obj->templ, obj->size);
  else memset((void*)p, 0, obj->size);
  return (void*)p;
}

static uintptr_t emutls_offset(emutls_object* obj) {
  uintptr_t off = __atomic_load_n(&obj->loc.offset, __ATOMIC_ACQUIRE);
  if (off != 0) return off;
  while (InterlockedCompareExchange(&tls_lock, 1, 0) != 0) YieldProcessor();
  off = obj->loc.offset;
  if (off == 0) {
    off = ++tls_next_offset;
    __atomic_store_n(&obj->loc.offset, off, __ATOMIC_RELEASE);
  }
  InterlockedExchange(&tls_lock, 0);
  return off;
}

/* First access of a variable in this thread (or of the variable at all). */
static HS_NOINLINE void* emutls_get_slow(emutls_object* obj) {
  uintptr_t off = emutls_offset(obj);
  emutls_array* arr = tls_get();
  if (arr != NULL && off <= arr->count && arr->data[off - 1] != NULL) {
    return arr->data[off - 1];
  }
  DWORD last_error = GetLastError();
  if (tls_index == TLS_OUT_OF_INDEXES) hs_tls_process_init();
  uintptr_t late = arr != NULL && arr->late;
  if (arr == &late_marker) arr = NULL;
  if (arr == NULL || off > arr->count) {
    uintptr_t count = off + 16;
    size_t bytes = sizeof(emutls_array) + count * sizeof(void*);
    emutls_array* grown = arr == NULL || in_reserve(arr) || hs_faults.tls_oom
                              ? NULL
                              : HeapReAlloc(tls_heap, HEAP_ZERO_MEMORY, arr,
                                            bytes);
    if (grown == NULL) {
      grown = tls_alloc(bytes, TRUE);
      if (grown == NULL) {
        /* Not even the reserve: nothing sensible is left to do. */
        RaiseFailFastException(NULL, NULL, 0);
      }
      if (arr != NULL) {
        memcpy(grown->data, arr->data, arr->count * sizeof(void*));
        tls_free(arr);
      }
    }
    grown->count = count;
    grown->late = late;
    arr = grown;
    TlsSetValue(tls_index, arr);
  }
  void* p = emutls_alloc(obj);
  if (p == NULL) RaiseFailFastException(NULL, NULL, 0);
  arr->data[off - 1] = p;
  SetLastError(last_error);
  return p;
}

/* Every access to a `__thread` variable (mimalloc's default heap on each
 * malloc): kept small, no register spills; the rest is emutls_get_slow. */
void* __emutls_get_address(void* object);
void* __emutls_get_address(void* object) {
  emutls_object* obj = object;
  uintptr_t off = __atomic_load_n(&obj->loc.offset, __ATOMIC_ACQUIRE);
  emutls_array* arr = tls_get();
  if (HS_LIKELY(off != 0 && arr != NULL && off <= arr->count)) {
    void* p = arr->data[off - 1];
    if (HS_LIKELY(p != NULL)) return p;
  }
  return emutls_get_slow(obj);
}

/* libgcc's signature: size and align are a machine word (`mode(word)`):
 * 64 bits on x64, 32 on x86. */
void __emutls_register_common(void* object, uintptr_t size, uintptr_t align,
                              void* templ);
void __emutls_register_common(void* object, uintptr_t size, uintptr_t align,
                              void* templ) {
  emutls_object* obj = object;
  if (obj->size < size) {
    obj->size = size;
    obj->templ = NULL;
  }
  if (obj->align < align) obj->align = align;
  if (templ && size == obj->size) obj->templ = templ;
}

BOOL hs_tls_thread_active(void) {
  if (tls_index == TLS_OUT_OF_INDEXES) return FALSE;
  emutls_array* arr = tls_get();
  return arr != NULL && arr != &late_marker;
}

BOOL hs_tls_thread_late(void) {
  if (tls_index == TLS_OUT_OF_INDEXES) return FALSE;
  emutls_array* arr = tls_get();
  return arr != NULL && arr->late;
}

void hs_tls_thread_done(void) {
  if (tls_index == TLS_OUT_OF_INDEXES) return;
  emutls_array* arr = tls_get();
  DWORD last_error = GetLastError();
  TlsSetValue(tls_index, &late_marker);
  if (arr != NULL && arr != &late_marker) {
    for (uintptr_t i = 0; i < arr->count; i++) {
      if (arr->data[i]) tls_free(((void**)arr->data[i])[-1]);
    }
    tls_free(arr);
  }
  SetLastError(last_error);
}

#else /* MSVC: native TLS */

static HANDLE private_heap;
static __declspec(thread) BOOL thread_late;

BOOL hs_tls_process_init(void) {
  if (private_heap == NULL) private_heap = HeapCreate(0, 0, 0);
  return private_heap != NULL;
}
BOOL hs_tls_thread_active(void) { return TRUE; }
BOOL hs_tls_thread_late(void) { return thread_late; }
void hs_tls_thread_done(void) { thread_late = TRUE; }
void* hs_private_alloc(size_t size) {
  return HeapAlloc(private_heap, HEAP_ZERO_MEMORY, size);
}
void hs_private_free(void* p) { HeapFree(private_heap, 0, p); }

#endif
