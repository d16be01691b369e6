/* The real programs' "mimalloc linked" builds: mimalloc initialised before
 * main (GCC ignores mimalloc's MSVC TLS-callback initialisation). */
#include <mimalloc.h>

__attribute__((constructor)) static void heapshift_bench_mi_init(void) {
  mi_process_init();
}
