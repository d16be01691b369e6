/* Blocks from before the takeover ("old" blocks) live in the CRT heap,
 * `_get_heap_handle()`. They are sized, shrunk and released with the Win32
 * heap API on that handle: never through the (now hooked) CRT functions,
 * and never through a trampoline to the original code.
 *
 * Migration itself (allocate in mimalloc, copy, free the old block) is done
 * by the realloc-kind hooks in hooks.c (or, with HEAPSHIFT_NO_MIGRATE=1,
 * the block is resized here on the old heap instead); the UCRT `_aligned_*` header layout
 * (raw pointer stored just below the aligned block) is read with
 * hs_aligned_raw() in heapshift.h, so old aligned blocks keep their
 * alignment and offset when they move. */
#include "heapshift.h"

size_t hs_old_size(void* p) { return HeapSize(hs_target.heap, 0, p); }

BOOL hs_old_free(void* p) { return HeapFree(hs_target.heap, 0, p); }

void* hs_old_shrink(void* p, size_t n) {
  return HeapReAlloc(hs_target.heap, HEAP_REALLOC_IN_PLACE_ONLY, p, n);
}

/* HEAPSHIFT_NO_MIGRATE: old blocks stay on the old heap for good. */
void* hs_old_alloc(size_t n) { return HeapAlloc(hs_target.heap, 0, n); }

void* hs_old_realloc(void* p, size_t n) {
  return HeapReAlloc(hs_target.heap, 0, p, n);
}
