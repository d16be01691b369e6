/* Variant 4 of the bench ("mimalloc linked directly"): included first by
 * workload.c when built with -DBENCH_MIMALLOC, together with mimalloc's
 * src/static.c. On Windows, linking mimalloc statically does not redirect
 * the UCRT's malloc, so the workload's own calls are redirected at compile
 * time instead: the system headers are read first (their declarations stay
 * intact), then mimalloc-override.h #defines malloc, free, realloc,
 * _msize, _strdup and the _aligned_* family to their mi_* equivalents. */
#ifndef HEAPSHIFT_BENCH_MI_DIRECT_H
#define HEAPSHIFT_BENCH_MI_DIRECT_H
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <mimalloc-override.h>
#endif
