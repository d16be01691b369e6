/* The real programs' "mimalloc linked" builds: mimalloc initialised before
 * main, as bench/workload.c's variant 4 does it in its main. GCC ignores
 * the MSVC-only TLS-callback pragmas mimalloc initialises itself with on
 * Windows; mimalloc 2.1.3+ and v3 leave their "preloading" state only
 * there (v2.1.2 used a GCC constructor). mi_process_init alone does not
 * leave it: left preloading, v3 creates no arenas (every page straight
 * from the OS) and reads no MIMALLOC_ options, so the column the hook is
 * compared with would not be mimalloc as linked programs get it. */
#include <mimalloc.h>
#include <stdbool.h>
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#if MI_MALLOC_VERSION >= 213
extern bool _mi_preloading(void);
extern void _mi_auto_process_init(void);
#endif

__attribute__((constructor)) static void heapshift_bench_mi_init(void) {
#if MI_MALLOC_VERSION >= 213
  if (_mi_preloading()) _mi_auto_process_init();
#endif
  mi_process_init();
#if MI_MALLOC_VERSION >= 213
  if (_mi_preloading()) { /* the run fails (stderr, exit code) */
    static const char msg[] =
        "mimalloc is still preloading after its initialisation: this build "
        "would not measure mimalloc as linked programs get it\n";
    DWORD w;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, sizeof msg - 1, &w, NULL);
    ExitProcess(4);
  }
#endif
}
