/* What mimalloc would import from advapi32.dll (advapi.c): its random
 * seeds (RtlGenRandom, with MI_USE_RTLGENRANDOM) and the privilege calls
 * of its large-page support, answered without advapi32: the DLL has no
 * import of it and calls no copy the program loaded (under Wine advapi32
 * brings sechost and msvcrt: about 1 MB resident in a program that does
 * not load them otherwise). mimalloc_unit.c renames mimalloc's calls to
 * these while it compiles mimalloc. */
#ifndef HEAPSHIFT_ADVAPI_H
#define HEAPSHIFT_ADVAPI_H

#include <windows.h>

/* The CPU's RDRAND, never another module; FALSE without it (mimalloc then
 * seeds from the time and addresses). */
BOOLEAN NTAPI hs_advapi_random(PVOID buffer, ULONG length);
/* ntdll's NtOpenProcessToken and NtAdjustPrivilegesToken, as advapi32's
 * would call them; the lookup knows SeLockMemoryPrivilege only. */
BOOL WINAPI hs_advapi_open_process_token(HANDLE process, DWORD access,
                                         PHANDLE token);
BOOL WINAPI hs_advapi_lookup_privilege_value(LPCSTR system, LPCSTR name,
                                             PLUID luid);
BOOL WINAPI hs_advapi_adjust_token_privileges(HANDLE token, BOOL disable_all,
                                              PTOKEN_PRIVILEGES state,
                                              DWORD length,
                                              PTOKEN_PRIVILEGES previous,
                                              PDWORD returned);

#endif
