/* Who may open the stats block (STATS.md, "Who may open it"): a DACL of
 * its own rather than its creator's default one. A service's default DACL
 * (LocalService, NetworkService) need not admit Administrators, so `stats`
 * from an elevated prompt was refused, and the default may be no DACL at
 * all (under Wine a named section gets none): anyone could write the
 * block, whose counters and trim state the DLL reads back.
 *
 * Built with ntdll only, as advapi.c explains: this runs inside our
 * DLL_PROCESS_ATTACH, where advapi32 (and sechost behind it, which the
 * SDDL calls need) may not be initialised, and loading it would run its
 * DllMain under the loader lock. */
#include "advapi.h"
#include "heapshift.h"

/* What a reader needs: OpenFileMappingW(FILE_MAP_READ) and MapViewOfFile,
 * and the descriptor itself. (Specific rights, not GENERIC_READ: stored
 * as given, so Windows and Wine show the same masks.) */
#define SECTION_READ (READ_CONTROL | SECTION_QUERY | SECTION_MAP_READ)

/* A SID of up to two subauthorities (winnt.h's SID holds one). */
typedef struct small_sid {
  BYTE revision, count;
  SID_IDENTIFIER_AUTHORITY authority;
  DWORD sub[2];
} small_sid;

static small_sid system_sid = {1, 1, {{0, 0, 0, 0, 0, 5}}, {18, 0}};
static small_sid admins_sid = {1, 2, {{0, 0, 0, 0, 0, 5}}, {32, 544}};

typedef LONG(NTAPI* query_token_fn)(HANDLE, int, PVOID, ULONG, PULONG);
typedef LONG(NTAPI* create_acl_fn)(PACL, ULONG, ULONG);
typedef LONG(NTAPI* add_allowed_fn)(PACL, ULONG, ACCESS_MASK, PSID);
typedef BOOLEAN(NTAPI* equal_sid_fn)(PSID, PSID);

/* ntdll's export `name` into `*fn`; FALSE without it. */
static BOOL ntdll_fn(const char* name, void* fn) {
  FARPROC f = hs_ntdll_fn(name);
  if (f != NULL) memcpy(fn, &f, sizeof f);
  return f != NULL;
}

/* A token query's answer: the fixed part, then the SID it points at. */
typedef union user_info {
  TOKEN_USER user;
  uint64_t room[32];
} user_info;
typedef union owner_info {
  TOKEN_OWNER owner;
  uint64_t room[32];
} owner_info;

/* Our token's user and owner. */
static BOOL token_sids(user_info* user, owner_info* owner) {
  query_token_fn query;
  HANDLE token;
  if (!ntdll_fn("NtQueryInformationToken", &query) ||
      !hs_advapi_open_process_token(GetCurrentProcess(), TOKEN_QUERY,
                                    &token)) {
    return FALSE;
  }
  ULONG got;
  BOOL ok = query(token, TokenUser, user, sizeof *user, &got) >= 0 &&
            query(token, TokenOwner, owner, sizeof *owner, &got) >= 0;
  CloseHandle(token);
  return ok;
}

/* The entries: the writer, whose processes are this one's equals (the
 * token's user; an elevated administrator's objects are owned by
 * Administrators, whose default DACL gives them, not the user, full access:
 * so here too, and the user, unelevated, may read), SYSTEM as every
 * default DACL has it, and Administrators read, elevated or not the user
 * who injected (from any session: a service's block is Global\ there). */
static BOOL fill(PACL acl, ULONG size, PSID user, PSID owner) {
  create_acl_fn create;
  add_allowed_fn add;
  equal_sid_fn equal;
  if (!ntdll_fn("RtlCreateAcl", &create) ||
      !ntdll_fn("RtlAddAccessAllowedAce", &add) ||
      !ntdll_fn("RtlEqualSid", &equal) ||
      create(acl, size, ACL_REVISION) < 0) {
    return FALSE;
  }
  PSID admins = &admins_sid, system = &system_sid;
  PSID writer = equal(owner, admins) ? admins : user;
  BOOL ok = add(acl, ACL_REVISION, SECTION_ALL_ACCESS, writer) >= 0;
  if (!equal(writer, system)) {
    ok = ok && add(acl, ACL_REVISION, SECTION_ALL_ACCESS, system) >= 0;
  }
  if (writer != admins) {
    ok = ok && add(acl, ACL_REVISION, SECTION_READ, admins) >= 0;
  }
  if (writer != user && !equal(user, system)) {
    ok = ok && add(acl, ACL_REVISION, SECTION_READ, user) >= 0;
  }
  return ok;
}

SECURITY_ATTRIBUTES* hs_stats_access(void) {
  /* DllMain's thread, once per load: static buffers */
  static user_info user;
  static owner_info owner;
  static uint64_t acl[64];
  static SECURITY_DESCRIPTOR sd;
  static SECURITY_ATTRIBUTES sa;
  if (!token_sids(&user, &owner) ||
      !fill((PACL)acl, sizeof acl, user.user.User.Sid, owner.owner.Owner)) {
    hs_log("stats: no DACL of our own (error %lu): the default one",
           GetLastError());
    return NULL;
  }
  memset(&sd, 0, sizeof sd);
  sd.Revision = SECURITY_DESCRIPTOR_REVISION;
  sd.Control = SE_DACL_PRESENT;
  sd.Dacl = (PACL)acl;
  sa.nLength = sizeof sa;
  sa.lpSecurityDescriptor = &sd;
  sa.bInheritHandle = FALSE;
  return &sa;
}
