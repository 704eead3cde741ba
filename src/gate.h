#ifndef NT3_GATE_H
#define NT3_GATE_H

#include <limits.h>
#include <stddef.h>

#include <lua.h>

/*
 * A sandbox's gate on nt3.http (docs/architecture.md, "Sandboxed commands"):
 * a Lua state whose registry holds one (NT3_HTTP_GATE, a light userdata)
 * has every request and every redirect hop judged by it, in C. Host states
 * have none, and their requests are as before.
 */
struct nt3_http_gate {
  /* 0 when a hop of the given kind (api: an authenticated request of
   * nt3.api) with this method may go to origin (nt3_http_origin's form);
   * else the refusal's message in why */
  int (*allow)(const struct nt3_http_gate *g, int api, const char *method, const char *origin, char *why,
               size_t size);
  /* raises the refusal of a request's first hop in L (never returns) */
  int (*raise)(lua_State *L, const char *message);
  /* A request's output file: 0 with *dirfd (an O_PATH descriptor of the
   * directory that holds it, resolved beneath the fs.write root the path
   * lies under by nt3_parent_beneath; the caller closes it) and name (its
   * last component, for nt3_atomic_openat) filled; -1 when no fs.write
   * root holds the path (why: the refusal, to raise); else an errno (a
   * rule of src/beneath.h refused the way; why: the failure's words). */
  int (*output)(lua_State *L, const struct nt3_http_gate *g, const char *path, int *dirfd, char name[NAME_MAX + 1],
                char *why, size_t size);
};

#define NT3_HTTP_GATE "nt3.http.gate"

/* A sandbox's environment for the programs nt3.proc runs (a NULL-ended
 * char ** in the registry, as a light userdata). */
#define NT3_PROC_ENVIRON "nt3.proc.environ"

/* The gate of L's state, or NULL. */
const struct nt3_http_gate *nt3_http_gate_of(lua_State *L);

/* What makes a request an API request of a sandbox: C strings, never Lua
 * values. auth is the Authorization line, added in C; every copy of secret
 * in what comes back (headers, body, URL, messages) is masked before Lua
 * sees it; cafile is the host's NT3_CA_FILE (or NULL). */
struct nt3_api_auth {
  const char *auth, *secret, *cafile;
};

/* http.request's body: the request table at index 1; a is NULL for a
 * request of nt3.http itself. */
int nt3_http_request_as(lua_State *L, const struct nt3_api_auth *a);

#endif
