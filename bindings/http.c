/*
 * nt3.http: one HTTP request, with nt3's network policy (DESIGN.md,
 * invariant 8) enforced here in C so that no Lua code can get around it:
 * only http and https; plain http only to a loopback host, judged on the
 * host as libcurl's own URL parser sees it; TLS always verified; no .netrc;
 * redirects followed by hand so that every hop is checked, and credentials
 * never carried to another origin; bounded connect time, stall and size.
 *
 * libcurl is not linked: merely linking it costs ~3 ms at every start (about
 * thirty shared libraries to load and relocate), and most nt3 runs never make
 * a request. It is dlopen()ed on the first request and its functions are
 * kept in a struct held by a userdata in the Lua registry.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "policy.h"
#include "runtime.h"

#define LIBCURL_KEY "nt3.http.libcurl"
#define TRANSFER_MT "nt3.http.transfer"

#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_STALL_TIMEOUT 30.0
#define DEFAULT_MAX_SIZE (16 * 1024 * 1024)
#define DEFAULT_MAX_REDIRECTS 5
/* Response headers are held in memory too; a server must not be able to
 * make us grow without bound through them either. */
#define MAX_HEADER_BYTES (1024 * 1024)

/* ---------------------------------------------------------------------------
 * libcurl, loaded on demand
 * ------------------------------------------------------------------------- */

struct curl_api {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
  CURLcode (*easy_perform)(CURL *h);
  CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
  void (*easy_reset)(CURL *h);
  void (*easy_cleanup)(CURL *h);
  const char *(*easy_strerror)(CURLcode code);
  struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
  void (*slist_free_all)(struct curl_slist *list);
  CURLU *(*url)(void);
  CURLU *(*url_dup)(const CURLU *u);
  void (*url_cleanup)(CURLU *u);
  CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *s, unsigned int flags);
  CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **s, unsigned int flags);
  const char *(*url_strerror)(CURLUcode code);
  void (*free)(void *p);
};

/* Resolves every function nt3 uses; returns the name of a missing one. */
static const char *resolve_symbols(void *lib, struct curl_api *api) {
  /* POSIX's sanctioned way to turn dlsym's void * into a function pointer */
#define RESOLVE(field, symbol) \
  if (!(*(void **)(&api->field) = dlsym(lib, symbol))) return symbol
  RESOLVE(global_init, "curl_global_init");
  RESOLVE(easy_init, "curl_easy_init");
  RESOLVE(easy_setopt, "curl_easy_setopt");
  RESOLVE(easy_perform, "curl_easy_perform");
  RESOLVE(easy_getinfo, "curl_easy_getinfo");
  RESOLVE(easy_reset, "curl_easy_reset");
  RESOLVE(easy_cleanup, "curl_easy_cleanup");
  RESOLVE(easy_strerror, "curl_easy_strerror");
  RESOLVE(slist_append, "curl_slist_append");
  RESOLVE(slist_free_all, "curl_slist_free_all");
  RESOLVE(url, "curl_url");
  RESOLVE(url_dup, "curl_url_dup");
  RESOLVE(url_cleanup, "curl_url_cleanup");
  RESOLVE(url_set, "curl_url_set");
  RESOLVE(url_get, "curl_url_get");
  RESOLVE(url_strerror, "curl_url_strerror");
  RESOLVE(free, "curl_free");
#undef RESOLVE
  return NULL;
}

/*
 * The loaded library, from the registry, loading it the first time. On
 * failure pushes nil, message and returns NULL.
 *
 * curl_global_init runs once per Lua state, right after the dlopen. nt3 has
 * one Lua state per process, so that is once per process; and were there
 * more, libcurl counts its global_init calls itself, so repeating it is
 * harmless. curl_global_cleanup is never called and the library is never
 * dlclose()d: libcurl's global state and the TLS library's exit handlers
 * live in it, and the process is about to end anyway.
 */
static const struct curl_api *load_curl(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, LIBCURL_KEY) == LUA_TUSERDATA) {
    const struct curl_api *api = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return api;
  }
  lua_pop(L, 1);
  /* allocated before the dlopen, so a memory error cannot strand the handle */
  struct curl_api *api = lua_newuserdatauv(L, sizeof *api, 0);
  /* RTLD_LAZY: RTLD_NOW would bind every function of all ~30 libraries
   * libcurl pulls in (Kerberos, LDAP, RTMP, ...), most of which a request
   * never calls; lazily, only those called are looked up (measured: 21.6M
   * -> 19.0M instructions for one `nt3 api`). Every function nt3 itself
   * calls is still checked below with dlsym, so a missing one is a clear
   * error here, not a crash later. */
  void *lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    lua_pushnil(L);
    lua_pushfstring(L, "libcurl is not available: %s", why ? why : "dlopen failed");
    return NULL;
  }
  const char *missing = resolve_symbols(lib, api);
  if (missing) {
    dlclose(lib);
    lua_pushnil(L);
    lua_pushfstring(L, "libcurl is not available: it has no %s (too old?)", missing);
    return NULL;
  }
  CURLcode rc = api->global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    lua_pushnil(L);
    lua_pushfstring(L, "libcurl could not be initialised: %s", api->easy_strerror(rc));
    return NULL;
  }
  lua_setfield(L, LUA_REGISTRYINDEX, LIBCURL_KEY);
  return api;
}

/* ---------------------------------------------------------------------------
 * the request table: checked completely before anything is acquired
 * ------------------------------------------------------------------------- */

/* Stack slots the checked request fields are kept in, so that every string
 * curl is given stays referenced while the transfer runs. */
enum {
  REQ = 1, SLOT_METHOD, SLOT_URL, SLOT_HEADERS, SLOT_BODY, SLOT_CAFILE,
  SLOT_TRANSFER, SLOT_ORIGIN, FIRST_FREE_SLOT
};

struct request {
  const char *method;
  const char *url;
  const char *body; /* NULL: no body */
  size_t body_len;
  const char *cafile;
  double timeout, connect_timeout, stall_timeout;
  lua_Integer max_size, max_redirects;
  int has_user_agent, has_content_type, has_expect;
};

static const char *const request_fields[] = {
  "method", "url", "headers", "body", "timeout", "connect_timeout",
  "stall_timeout", "max_size", "cafile", "max_redirects", NULL,
};

/* RFC 9110 token characters: what a method or a header name may be made of */
static int is_token(const char *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    if (!strchr("!#$%&'*+-.^_`|~", c) || c == '\0') return 0;
  }
  return 1;
}

static void check_known_fields(lua_State *L) {
  lua_pushnil(L);
  while (lua_next(L, REQ)) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; request_fields[i]; i++)
        if (strcmp(lua_tostring(L, -1), request_fields[i]) == 0) known = 1;
    if (!known) {
      const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
      luaL_argerror(L, REQ, lua_pushfstring(L, "unknown field '%s' in request", name));
    }
  }
}

/* Pushes req[key] into the next slot: a string, or nil when absent. */
static const char *string_field(lua_State *L, const char *key, size_t *len) {
  int t = lua_getfield(L, REQ, key);
  if (t == LUA_TNIL) return NULL;
  if (t != LUA_TSTRING)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field '%s' must be a string, not %s", key, lua_typename(L, t)));
  return lua_tolstring(L, -1, len);
}

static double seconds_field(lua_State *L, const char *key, double def) {
  int t = lua_getfield(L, REQ, key);
  double v = def;
  if (t != LUA_TNIL) {
    if (t != LUA_TNUMBER)
      luaL_argerror(L, REQ, lua_pushfstring(L, "field '%s' must be a number of seconds, not %s", key, lua_typename(L, t)));
    v = lua_tonumber(L, -1);
    if (!(v > 0) || !isfinite(v) || v > 86400.0 * 365)
      luaL_argerror(L, REQ, lua_pushfstring(L, "field '%s' must be a positive number of seconds", key));
  }
  lua_pop(L, 1);
  return v;
}

static lua_Integer count_field(lua_State *L, const char *key, lua_Integer def) {
  int t = lua_getfield(L, REQ, key);
  lua_Integer v = def;
  if (t != LUA_TNIL) {
    int ok = 0;
    v = lua_tointegerx(L, -1, &ok);
    if (t != LUA_TNUMBER || !ok || v < 0)
      luaL_argerror(L, REQ, lua_pushfstring(L, "field '%s' must be a whole number >= 0", key));
  }
  lua_pop(L, 1);
  return v;
}

/* Header names and values become lines of the request: CR, LF or NUL in
 * them would let a caller (or whoever fed the caller) inject headers.
 * Checks the name at `ni` and the value at `vi` (both absolute). */
static void check_header(lua_State *L, struct request *req, int ni, int vi) {
  size_t nlen, vlen;
  if (lua_type(L, ni) != LUA_TSTRING)
    luaL_argerror(L, REQ, lua_pushfstring(L, "header names must be strings, not %s", luaL_typename(L, ni)));
  const char *name = lua_tolstring(L, ni, &nlen);
  if (!is_token(name, nlen))
    luaL_argerror(L, REQ, lua_pushfstring(L, "invalid header name '%s'", name));
  int vt = lua_type(L, vi);
  if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
    luaL_argerror(L, REQ, lua_pushfstring(L, "header '%s' must have a string value, not %s", name, lua_typename(L, vt)));
  lua_pushvalue(L, vi); /* a copy: the table keeps its number */
  const char *value = lua_tolstring(L, -1, &vlen);
  if (memchr(value, '\r', vlen) || memchr(value, '\n', vlen) || strlen(value) != vlen)
    luaL_argerror(L, REQ, lua_pushfstring(L, "header '%s' has a CR, LF or NUL in its value", name));
  lua_pop(L, 1);
  if (strcasecmp(name, "User-Agent") == 0) req->has_user_agent = 1;
  if (strcasecmp(name, "Content-Type") == 0) req->has_content_type = 1;
  if (strcasecmp(name, "Expect") == 0) req->has_expect = 1;
}

/* Checks one entry of the headers table (key at -2, value at -1). Three
 * forms, all validated alike: Name = value; Name = {value, value, ...}
 * (one line each); and, under the integer keys 1..n, {name, value} pairs
 * (one line each, in order). */
static void check_header_entry(lua_State *L, struct request *req) {
  int key = lua_gettop(L) - 1, val = key + 1;
  luaL_checkstack(L, 4, NULL);
  if (lua_type(L, key) == LUA_TSTRING && lua_type(L, val) == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, val);
    if (n == 0)
      luaL_argerror(L, REQ, lua_pushfstring(L, "header '%s' must have a string value or a list of them", lua_tostring(L, key)));
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, val, i);
      check_header(L, req, key, lua_gettop(L));
      lua_pop(L, 1);
    }
    return;
  }
  if (lua_type(L, key) == LUA_TSTRING) {
    check_header(L, req, key, val);
    return;
  }
  lua_Integer i = lua_isinteger(L, key) ? lua_tointeger(L, key) : 0;
  if (i < 1 || (lua_Unsigned)i > lua_rawlen(L, SLOT_HEADERS))
    luaL_argerror(L, REQ, lua_pushfstring(L, "header names must be strings, not %s", luaL_typename(L, key)));
  /* the pair itself is checked by check_header_pairs, holes included */
}

/* Checks headers[1 .. #headers]: each a {name, value} pair. Walked by
 * index, as build_headers walks them, so a hole cannot slip through. */
static void check_header_pairs(lua_State *L, struct request *req) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, SLOT_HEADERS);
  luaL_checkstack(L, 4, NULL);
  for (lua_Integer i = 1; i <= n; i++) {
    int pair = lua_gettop(L) + 1;
    if (lua_rawgeti(L, SLOT_HEADERS, i) != LUA_TTABLE)
      luaL_argerror(L, REQ, lua_pushfstring(L, "headers[%I] must be a {name, value} pair, not %s", (LUAI_UACINT)i, luaL_typename(L, pair)));
    lua_rawgeti(L, pair, 1);
    lua_rawgeti(L, pair, 2);
    check_header(L, req, pair + 1, pair + 2);
    lua_pop(L, 3);
  }
}

static void check_headers(lua_State *L, struct request *req) {
  int t = lua_getfield(L, REQ, "headers");
  if (t == LUA_TNIL) return;
  if (t != LUA_TTABLE)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field 'headers' must be a table, not %s", lua_typename(L, t)));
  lua_pushnil(L);
  while (lua_next(L, SLOT_HEADERS)) {
    check_header_entry(L, req);
    lua_pop(L, 1);
  }
  check_header_pairs(L, req);
}

/* Leaves the string fields in their slots (REQ+1 .. SLOT_CAFILE). */
static void check_request(lua_State *L, struct request *req) {
  luaL_checktype(L, REQ, LUA_TTABLE);
  lua_settop(L, REQ);
  memset(req, 0, sizeof *req);
  check_known_fields(L);

  size_t len;
  req->method = string_field(L, "method", &len);
  if (!req->method) req->method = "GET";
  else if (!is_token(req->method, len))
    luaL_argerror(L, REQ, lua_pushfstring(L, "invalid method '%s'", req->method));

  req->url = string_field(L, "url", &len);
  if (!req->url) luaL_argerror(L, REQ, "field 'url' is required");
  if (strlen(req->url) != len) luaL_argerror(L, REQ, "field 'url' has a NUL byte");

  check_headers(L, req);

  req->body = string_field(L, "body", &req->body_len);

  req->cafile = string_field(L, "cafile", &len);
  if (req->cafile && (len == 0 || strlen(req->cafile) != len))
    luaL_argerror(L, REQ, "field 'cafile' must be a path");

  req->timeout = seconds_field(L, "timeout", DEFAULT_TIMEOUT);
  req->connect_timeout = seconds_field(L, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  req->stall_timeout = seconds_field(L, "stall_timeout", DEFAULT_STALL_TIMEOUT);
  req->max_size = count_field(L, "max_size", DEFAULT_MAX_SIZE);
  req->max_redirects = count_field(L, "max_redirects", DEFAULT_MAX_REDIRECTS);
}

/* ---------------------------------------------------------------------------
 * the transfer: every resource of one request, freed by its __gc too, so a
 * Lua error at any point (even out of memory) leaks nothing
 * ------------------------------------------------------------------------- */

struct buffer {
  char *data;
  size_t len, cap, limit;
  int overflowed;
};

struct transfer {
  const struct curl_api *api;
  CURL *easy;
  CURLU *url;  /* the current hop */
  CURLU *next; /* the hop being checked */
  char *part;  /* a curl string on its way into Lua */
  struct curl_slist *headers;      /* as the caller gave them */
  struct curl_slist *safe_headers; /* the same without credentials */
  struct buffer head, body;
  int debug;
  /* stall detection: when a byte last moved, and for how long that may be */
  double last_activity, stall_timeout;
  curl_off_t last_dl, last_ul;
  int stalled;
  char errbuf[CURL_ERROR_SIZE];
};

static void buffer_free(struct buffer *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->overflowed = 0;
}

/* Appends unless that would pass the limit; 0 (and overflowed) if it would. */
static int buffer_add(struct buffer *b, const char *data, size_t n) {
  if (n > b->limit - b->len) {
    b->overflowed = 1;
    return 0;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return 0;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
  return 1;
}

static void transfer_free(struct transfer *t) {
  if (!t->api) return;
  if (t->easy) t->api->easy_cleanup(t->easy);
  if (t->url) t->api->url_cleanup(t->url);
  if (t->next) t->api->url_cleanup(t->next);
  if (t->part) t->api->free(t->part);
  if (t->headers) t->api->slist_free_all(t->headers);
  if (t->safe_headers) t->api->slist_free_all(t->safe_headers);
  t->easy = NULL;
  t->url = t->next = NULL;
  t->part = NULL;
  t->headers = t->safe_headers = NULL;
  buffer_free(&t->head);
  buffer_free(&t->body);
}

static int transfer_gc(lua_State *L) {
  transfer_free(luaL_checkudata(L, 1, TRANSFER_MT));
  return 0;
}

static struct transfer *new_transfer(lua_State *L, const struct curl_api *api) {
  struct transfer *t = lua_newuserdatauv(L, sizeof *t, 0);
  memset(t, 0, sizeof *t);
  if (luaL_newmetatable(L, TRANSFER_MT)) {
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  t->api = api;
  return t;
}

/*
 * Failures a caller may branch on carry a stable code after the message
 * (nil, message, code); the message is for people and may change.
 */
#define E_INVALID_URL "invalid_url"       /* not a URL at all */
#define E_REFUSED_URL "refused_url"       /* a URL the policy forbids (scheme, plain http, user:pass@) */
#define E_TIMEOUT "timeout"               /* connect_timeout, timeout or stall_timeout ran out */
#define E_UNTRUSTED "untrusted_certificate"
#define E_TLS "tls"                       /* any other TLS failure, a bad CA file included */
#define E_CONNECT "connect"               /* refused, unreachable */
#define E_RESOLVE "resolve"               /* no such host */
#define E_TOO_LARGE "too_large"           /* body or headers past their bound */
#define E_REDIRECTS "too_many_redirects"
#define E_NETWORK "network"               /* the connection failed some other way */
#define E_UNSUPPORTED "unsupported"       /* this libcurl cannot do what was asked */

/* Pushes nil, message, code; frees the transfer now rather than at some GC. */
static int fail(lua_State *L, struct transfer *t, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushnil(L);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_pushstring(L, code);
  transfer_free(t);
  return 3;
}

/* Pushes a part of a URL (a string, or nil when the URL has none) and
 * returns it. */
static const char *push_part(lua_State *L, struct transfer *t, const CURLU *u, CURLUPart part, unsigned flags) {
  if (t->api->url_get(u, part, &t->part, flags) != CURLUE_OK || !t->part) {
    t->part = NULL;
    lua_pushnil(L);
    return NULL;
  }
  lua_pushstring(L, t->part);
  t->api->free(t->part);
  t->part = NULL;
  return lua_tostring(L, -1);
}

/* ---------------------------------------------------------------------------
 * policy: which URLs may be fetched at all
 * ------------------------------------------------------------------------- */

/* Replaces everything pushed since `top` by one message; returns 1. */
static int reason(lua_State *L, int top, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return 1;
}

/* Pushes why a URL must not be fetched and returns 1, or returns 0 (and
 * pushes nothing) when it may be. Runs before every connection. */
static int refuse_url(lua_State *L, struct transfer *t, const CURLU *u) {
  int top = lua_gettop(L);
  luaL_checkstack(L, 6, NULL);
  const char *scheme = push_part(L, t, u, CURLUPART_SCHEME, 0);
  if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
    return reason(L, top, "unsupported URL scheme \"%s\" (only http and https)", scheme ? scheme : "");
  if (push_part(L, t, u, CURLUPART_USER, 0) || push_part(L, t, u, CURLUPART_PASSWORD, 0))
    return reason(L, top, "a URL with a user name or password (user:password@) is not accepted");
  const char *host = push_part(L, t, u, CURLUPART_HOST, 0);
  if (!host || !*host) return reason(L, top, "URL has no host");
  /* plain http is tolerable only where nobody can listen in */
  if (strcasecmp(scheme, "http") == 0 && !nt3_is_loopback(host))
    return reason(L, top, "refusing plain http:// to non-loopback host \"%s\" (use https)", host);
  lua_settop(L, top);
  return 0;
}

/* Pushes "scheme://host:port" in lower case, default ports made explicit:
 * two URLs with the same origin may share credentials, no others. */
static void push_origin(lua_State *L, struct transfer *t, const CURLU *u) {
  int top = lua_gettop(L);
  const char *scheme = push_part(L, t, u, CURLUPART_SCHEME, 0);
  const char *host = push_part(L, t, u, CURLUPART_HOST, 0);
  const char *port = push_part(L, t, u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (const char *p = scheme ? scheme : ""; *p; p++) luaL_addchar(&b, (char)tolower((unsigned char)*p));
  luaL_addstring(&b, "://");
  for (const char *p = host ? host : ""; *p; p++) luaL_addchar(&b, (char)tolower((unsigned char)*p));
  luaL_addchar(&b, ':');
  luaL_addstring(&b, port ? port : "");
  luaL_pushresult(&b);
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}

/* A URL fit for a message: no user info, no query (either may hold a
 * secret). */
static void push_display_url(lua_State *L, struct transfer *t, const CURLU *u) {
  int top = lua_gettop(L);
  const char *scheme = push_part(L, t, u, CURLUPART_SCHEME, 0);
  const char *host = push_part(L, t, u, CURLUPART_HOST, 0);
  const char *port = push_part(L, t, u, CURLUPART_PORT, 0);
  const char *path = push_part(L, t, u, CURLUPART_PATH, 0);
  lua_pushfstring(L, "%s://%s%s%s%s", scheme ? scheme : "", host ? host : "", port ? ":" : "",
                  port ? port : "", path ? path : "");
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}

/* Text from outside (a URL a caller or a server gave) fit for a one-line
 * message: a Location header must not put escape sequences on a terminal. */
static const char *push_printable(lua_State *L, const char *s) {
  return nt3_push_printable(L, s, strlen(s), 200);
}

/* ---------------------------------------------------------------------------
 * request headers
 * ------------------------------------------------------------------------- */

static int append_header(lua_State *L, struct transfer *t, struct curl_slist **list, const char *line) {
  struct curl_slist *l = t->api->slist_append(*list, line);
  if (!l) return luaL_error(L, "not enough memory");
  *list = l;
  return 0;
}

/* Adds "name: value" (name and value on the stack top, popped) to both
 * lists, or only to the full one for a credential. */
static void add_header(lua_State *L, struct transfer *t) {
  const char *name = lua_tostring(L, -2);
  const char *value = lua_tostring(L, -1);
  /* "Name;" is curl's way to send a header with an empty value */
  const char *line = *value ? lua_pushfstring(L, "%s: %s", name, value) : lua_pushfstring(L, "%s;", name);
  append_header(L, t, &t->headers, line);
  /* never sent to an origin other than the one the caller addressed */
  if (!nt3_is_credential_header(name, strlen(name))) append_header(L, t, &t->safe_headers, line);
  lua_pop(L, 3);
}

/* Builds both header lists from the checked headers table: the Name =
 * entries first, then the {name, value} pairs in their order. */
static void build_headers(lua_State *L, struct transfer *t, const struct request *req) {
  luaL_checkstack(L, 8, NULL);
  if (lua_istable(L, SLOT_HEADERS)) {
    lua_pushnil(L);
    while (lua_next(L, SLOT_HEADERS)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        int val = lua_gettop(L);
        lua_Integer n = lua_istable(L, val) ? (lua_Integer)lua_rawlen(L, val) : 0;
        if (n == 0) {
          lua_pushvalue(L, val - 1);
          lua_pushvalue(L, val);
          add_header(L, t);
        }
        for (lua_Integer i = 1; i <= n; i++) {
          lua_pushvalue(L, val - 1);
          lua_rawgeti(L, val, i);
          add_header(L, t);
        }
      }
      lua_pop(L, 1);
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, SLOT_HEADERS);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, SLOT_HEADERS, i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      add_header(L, t);
      lua_pop(L, 1);
    }
  }
  const char *defaults[3] = {NULL, NULL, NULL};
  int n = 0;
  if (!req->has_user_agent) defaults[n++] = "User-Agent: nt3/" NT3_VERSION;
  /* curl would wait up to a second for "100 Continue" before a large body */
  if (!req->has_expect) defaults[n++] = "Expect:";
  /* curl would label any body as a form; better no type than a wrong one */
  if (req->body && !req->has_content_type) defaults[n++] = "Content-Type:";
  for (int i = 0; i < n; i++) {
    append_header(L, t, &t->headers, defaults[i]);
    append_header(L, t, &t->safe_headers, defaults[i]);
  }
}

/* ---------------------------------------------------------------------------
 * NT3_DEBUG trace, with credentials masked (invariant 5)
 * ------------------------------------------------------------------------- */

static void to_stderr(void *ud, const char *s, size_t n) {
  (void)ud;
  fwrite(s, 1, n, stderr);
}

/* One header line of the trace. Every line, the request line included, is
 * shown as printable text with any token-shaped text masked; the value of
 * a credential header is masked whatever it looks like: the scheme of an
 * Authorization ("Bearer") and the masked credential, or only "****". */
static void print_header_line(const char *mark, const char *line, size_t len) {
  const char *colon = memchr(line, ':', len);
  size_t nlen = colon ? (size_t)(colon - line) : 0;
  fputs(mark, stderr);
  if (!colon || !nt3_is_credential_header(line, nlen)) {
    nt3_printable(to_stderr, NULL, line, len, 0);
    fputc('\n', stderr);
    return;
  }
  nt3_printable(to_stderr, NULL, line, nlen, 0);
  fputs(": ", stderr);
  const char *v = colon + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  const char *space = memchr(v, ' ', (size_t)(end - v));
  int auth = nlen >= 13 && strncasecmp(line + nlen - 13, "Authorization", 13) == 0;
  if (auth && space) { /* the scheme ("Bearer") is no secret */
    nt3_printable(to_stderr, NULL, v, (size_t)(space - v), 0);
    fputc(' ', stderr);
    v = space + 1;
  }
  if (auth)
    nt3_mask(to_stderr, NULL, v, (size_t)(end - v));
  else
    fputs("****", stderr);
  fputc('\n', stderr);
}

/* Prints each header line of a block, "> " for ours and "< " for theirs. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp) {
  (void)h;
  (void)userp;
  if (type != CURLINFO_HEADER_OUT && type != CURLINFO_HEADER_IN) return 0;
  const char *mark = type == CURLINFO_HEADER_OUT ? "> " : "< ";
  const char *p = data, *end = data + size;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *stop = eol ? eol : end;
    size_t len = (size_t)(stop - p);
    if (len > 0 && p[len - 1] == '\r') len--;
    if (len > 0) print_header_line(mark, p, len);
    p = eol ? eol + 1 : end;
  }
  return 0;
}

/* ---------------------------------------------------------------------------
 * one hop
 * ------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *userp) {
  struct transfer *t = userp;
  t->last_activity = nt3_monotonic();
  /* a short count makes curl abort the transfer */
  return buffer_add(&t->body, data, size * n) ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp) {
  struct transfer *t = userp;
  t->last_activity = nt3_monotonic();
  /* a new status line: what came before was an interim (1xx) response */
  if (size * n >= 5 && memcmp(data, "HTTP/", 5) == 0) t->head.len = 0;
  return buffer_add(&t->head, data, size * n) ? size * n : 0;
}

/*
 * The stall check. curl's own LOW_SPEED_LIMIT/TIME judges an average over a
 * window of several seconds, so a server that sends a few bytes and then
 * goes silent is not caught for a long while (measured: not at all within
 * 5 s with LOW_SPEED_TIME=1). Instead, every byte in either direction
 * (and every response header) restarts the clock, and curl calls this at
 * least about once a second while it waits. Connecting, TLS handshake
 * included, is connect_timeout's business, so the clock starts after it.
 */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  struct transfer *t = userp;
  (void)dltotal;
  (void)ultotal;
  double now = nt3_monotonic();
  curl_off_t ready = 0;
  t->api->easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &ready);
  if (ready == 0 || dlnow != t->last_dl || ulnow != t->last_ul) {
    t->last_dl = dlnow;
    t->last_ul = ulnow;
    t->last_activity = now;
    return 0;
  }
  if (now - t->last_activity >= t->stall_timeout) {
    t->stalled = 1;
    return 1; /* aborts the transfer */
  }
  return 0;
}

static long to_ms(double seconds) {
  double ms = ceil(seconds * 1000.0);
  return ms < 1 ? 1 : (long)ms;
}

struct hop {
  const char *method;
  const char *body; /* NULL: none */
  size_t body_len;
  int cross_origin; /* credentials stay behind */
  int loopback; /* never through a proxy */
  double budget; /* seconds left of the whole request's timeout */
};

#define SET(opt, val) \
  if ((rc = api->easy_setopt(t->easy, opt, val)) != CURLE_OK) return rc

static CURLcode setup_hop(struct transfer *t, const struct request *req, const struct hop *hop) {
  const struct curl_api *api = t->api;
  CURLcode rc;
  api->easy_reset(t->easy);
  t->errbuf[0] = '\0';
  SET(CURLOPT_ERRORBUFFER, t->errbuf);
  SET(CURLOPT_CURLU, t->url);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if (req->cafile) SET(CURLOPT_CAINFO, req->cafile);
  /* loopback traffic never goes through a proxy from the environment: the
   * plain-http exception is only safe if the bytes stay on this machine,
   * and through a proxy "127.0.0.1" would name the proxy's machine, TLS or
   * not */
  if (hop->loopback) SET(CURLOPT_PROXY, "");
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SET(CURLOPT_TIMEOUT_MS, to_ms(hop->budget));
  SET(CURLOPT_CONNECTTIMEOUT_MS, to_ms(req->connect_timeout));
  SET(CURLOPT_NOPROGRESS, 0L);
  SET(CURLOPT_XFERINFOFUNCTION, on_progress);
  SET(CURLOPT_XFERINFODATA, (void *)t);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_size);
  SET(CURLOPT_HTTPHEADER, hop->cross_origin ? t->safe_headers : t->headers);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, (void *)t);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, (void *)t);
  if (t->debug) {
    SET(CURLOPT_DEBUGFUNCTION, on_debug);
    SET(CURLOPT_VERBOSE, 1L);
  }
  if (strcmp(hop->method, "HEAD") == 0) {
    SET(CURLOPT_NOBODY, 1L);
  } else if (strcmp(hop->method, "GET") == 0 && !hop->body) {
    SET(CURLOPT_HTTPGET, 1L);
  } else {
    if (hop->body || strcmp(hop->method, "POST") == 0) {
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(hop->body ? hop->body_len : 0));
      SET(CURLOPT_POSTFIELDS, hop->body ? hop->body : "");
    }
    if (strcmp(hop->method, "POST") != 0) SET(CURLOPT_CUSTOMREQUEST, hop->method);
  }
  return CURLE_OK;
}
#undef SET

/* One "Name: value" line of a response head, white space trimmed. */
struct header_line {
  const char *name, *value;
  size_t name_len, value_len;
};

/* Finds the next header line at or after *p; 0 at the end. The status
 * line, obsolete folded continuations and lines without a name are not
 * header lines. */
static int next_header(const char **p, const char *end, struct header_line *h) {
  while (*p && *p < end) {
    const char *line = *p;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    const char *stop = eol ? eol : end;
    *p = eol ? eol + 1 : end;
    const char *colon = memchr(line, ':', (size_t)(stop - line));
    int status_line = (size_t)(stop - line) >= 5 && memcmp(line, "HTTP/", 5) == 0;
    if (!colon || colon == line || status_line || *line == ' ' || *line == '\t') continue;
    const char *v = colon + 1, *vend = stop;
    while (v < vend && (*v == ' ' || *v == '\t')) v++;
    while (vend > v && (vend[-1] == '\r' || vend[-1] == ' ' || vend[-1] == '\t')) vend--;
    h->name = line;
    h->name_len = (size_t)(colon - line);
    h->value = v;
    h->value_len = (size_t)(vend - v);
    return 1;
  }
  return 0;
}

static void push_lower(lua_State *L, const char *s, size_t len) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < len; i++) luaL_addchar(&b, (char)tolower((unsigned char)s[i]));
  luaL_pushresult(&b);
}

/* Pushes the response headers as a table (lower-case names; repeated ones
 * joined with ", ") and then the first Location, or nil. */
static void push_headers(lua_State *L, const struct buffer *head) {
  luaL_checkstack(L, 6, NULL);
  lua_newtable(L);
  lua_pushnil(L); /* Location */
  int tbl = lua_gettop(L) - 1, loc = lua_gettop(L);
  const char *p = head->data, *end = head->data + head->len;
  struct header_line h;
  while (next_header(&p, end, &h)) {
    push_lower(L, h.name, h.name_len);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, tbl) == LUA_TSTRING) {
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, h.value, h.value_len);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, h.value, h.value_len);
      if (lua_isnil(L, loc) && strcmp(lua_tostring(L, -2), "location") == 0) {
        lua_pushvalue(L, -1);
        lua_replace(L, loc);
      }
    }
    lua_rawset(L, tbl);
  }
}

/* Pushes every header line in order as {name = lower case, value = ...}:
 * repeats stay apart, so each Set-Cookie can be told from the next. */
static void push_header_list(lua_State *L, const struct buffer *head) {
  luaL_checkstack(L, 4, NULL);
  lua_newtable(L);
  lua_Integer n = 0;
  const char *p = head->data, *end = head->data + head->len;
  struct header_line h;
  while (next_header(&p, end, &h)) {
    lua_createtable(L, 0, 2);
    push_lower(L, h.name, h.name_len);
    lua_setfield(L, -2, "name");
    lua_pushlstring(L, h.value, h.value_len);
    lua_setfield(L, -2, "value");
    lua_rawseti(L, -2, ++n);
  }
}

/* Pushes the reason phrase of the status line ("OK"; "" when there is
 * none, as always in HTTP/2 and 3). The head holds the final response
 * only: on_header drops interim ones. */
static void push_reason(lua_State *L, const struct buffer *head) {
  const char *p = head->data, *end = head->data + head->len;
  const char *eol = p ? memchr(p, '\n', (size_t)(end - p)) : NULL;
  const char *stop = eol ? eol : end;
  /* "HTTP/1.1 200 OK": the reason is what follows the second space */
  const char *sp = p ? memchr(p, ' ', (size_t)(stop - p)) : NULL;
  if (sp) sp = memchr(sp + 1, ' ', (size_t)(stop - sp - 1));
  if (!sp) {
    lua_pushliteral(L, "");
    return;
  }
  const char *r = sp + 1;
  while (stop > r && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t')) stop--;
  lua_pushlstring(L, r, (size_t)(stop - r));
}

/* Pushes the HTTP version that answered: "1.0", "1.1", "2" or "3". */
static void push_version(lua_State *L, struct transfer *t) {
  long v = 0;
  t->api->easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &v);
  switch (v) {
  case CURL_HTTP_VERSION_1_0: lua_pushliteral(L, "1.0"); break;
  case CURL_HTTP_VERSION_1_1: lua_pushliteral(L, "1.1"); break;
  case CURL_HTTP_VERSION_2_0: lua_pushliteral(L, "2"); break;
  case CURL_HTTP_VERSION_3: lua_pushliteral(L, "3"); break;
  default: lua_pushliteral(L, ""); break;
  }
}

static int is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static void format_seconds(char *out, size_t size, double s) {
  snprintf(out, size, "%.1f s", s);
}

/* Turns a failed transfer into nil, one clear line. */
static int transfer_error(lua_State *L, struct transfer *t, const struct request *req,
                          const struct hop *hop, CURLcode rc) {
  const struct curl_api *api = t->api;
  char secs[32];
  const char *host = push_part(L, t, t->url, CURLUPART_HOST, 0);
  const char *port = push_part(L, t, t->url, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!host) host = "?";
  if (!port) port = "?";
  size_t e = strlen(t->errbuf);
  while (e > 0 && (t->errbuf[e - 1] == '\n' || t->errbuf[e - 1] == '\r')) t->errbuf[--e] = '\0';
  const char *detail = e ? t->errbuf : api->easy_strerror(rc);

  if (rc == CURLE_FILESIZE_EXCEEDED || (rc == CURLE_WRITE_ERROR && t->body.overflowed))
    return fail(L, t, E_TOO_LARGE, "response too large (more than %I bytes)", (LUAI_UACINT)req->max_size);
  if (rc == CURLE_ABORTED_BY_CALLBACK && t->stalled) {
    format_seconds(secs, sizeof secs, req->stall_timeout);
    return fail(L, t, E_TIMEOUT, "timed out: no data from %s port %s for %s (stall_timeout)", host, port, secs);
  }
  if (rc == CURLE_WRITE_ERROR && t->head.overflowed)
    return fail(L, t, E_TOO_LARGE, "response headers too large (more than %d bytes)", MAX_HEADER_BYTES);
  switch (rc) {
  case CURLE_COULDNT_CONNECT: {
    long err = 0;
    api->easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &err);
    return fail(L, t, E_CONNECT, "could not connect to %s port %s: %s", host, port, err ? strerror((int)err) : detail);
  }
  case CURLE_OPERATION_TIMEDOUT: {
    curl_off_t connected = 0;
    api->easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connected);
    if (connected == 0 && req->connect_timeout <= hop->budget) {
      format_seconds(secs, sizeof secs, req->connect_timeout);
      return fail(L, t, E_TIMEOUT, "timed out after %s connecting to %s port %s (connect_timeout)", secs, host, port);
    }
    format_seconds(secs, sizeof secs, req->timeout);
    return fail(L, t, E_TIMEOUT, "timed out after %s waiting for %s port %s (timeout)", secs, host, port);
  }
  case CURLE_COULDNT_RESOLVE_HOST:
    return fail(L, t, E_RESOLVE, "could not resolve host \"%s\": %s", host, detail);
  case CURLE_PEER_FAILED_VERIFICATION:
    return fail(L, t, E_UNTRUSTED, "TLS certificate not trusted for %s: %s%s", host, detail,
                req->cafile ? "" : " (for a private CA give cafile)");
  case CURLE_SSL_CACERT_BADFILE:
    return fail(L, t, E_TLS, "could not use CA file \"%s\": %s", req->cafile ? req->cafile : "(default)", detail);
  case CURLE_SSL_CONNECT_ERROR:
    return fail(L, t, E_TLS, "TLS handshake with %s port %s failed: %s", host, port, detail);
  case CURLE_GOT_NOTHING:
    return fail(L, t, E_NETWORK, "%s port %s closed the connection without a response", host, port);
  default:
    return fail(L, t, E_NETWORK, "request to %s port %s failed: %s", host, port, detail);
  }
}

/* ---------------------------------------------------------------------------
 * http.request(req) -> response | nil, message
 * ------------------------------------------------------------------------- */

static void push_response(lua_State *L, struct transfer *t, long status) {
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  push_version(L, t);
  lua_setfield(L, -2, "version");
  push_reason(L, &t->head);
  lua_setfield(L, -2, "reason");
  push_headers(L, &t->head);
  lua_pop(L, 1); /* Location */
  lua_setfield(L, -2, "headers");
  push_header_list(L, &t->head);
  lua_setfield(L, -2, "header_list");
  lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
  lua_setfield(L, -2, "body");
  push_part(L, t, t->url, CURLUPART_URL, 0);
  lua_setfield(L, -2, "url");
}

/* 303 always, and 301/302 after a POST, turn the request into a GET
 * without its body, as browsers and curl do. RFC 9110 allows that change
 * for POST only: a PUT or DELETE turned into a GET would come back 200
 * and look done when nothing was changed. */
static void method_after_redirect(struct hop *hop, long status) {
  if (status == 303 || ((status == 301 || status == 302) && strcmp(hop->method, "POST") == 0)) {
    if (strcmp(hop->method, "HEAD") != 0) hop->method = "GET";
    hop->body = NULL;
    hop->body_len = 0;
  }
}

/* Moves the transfer to where a redirect points, if the policy allows that
 * URL. Returns 0, or pushes nil, message and returns 2. */
static int follow_redirect(lua_State *L, struct transfer *t, struct hop *hop, long status, const char *location) {
  const struct curl_api *api = t->api;
  t->next = api->url_dup(t->url);
  if (!t->next) return luaL_error(L, "not enough memory");
  /* a relative Location is resolved against the current URL */
  CURLUcode uc = api->url_set(t->next, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK)
    return fail(L, t, E_INVALID_URL, "redirect to \"%s\" refused: invalid URL (%s)", push_printable(L, location),
                api->url_strerror(uc));
  if (refuse_url(L, t, t->next)) {
    const char *why = lua_tostring(L, -1);
    push_display_url(L, t, t->next);
    return fail(L, t, E_REFUSED_URL, "redirect to %s refused: %s", lua_tostring(L, -1), why);
  }
  api->url_cleanup(t->url);
  t->url = t->next;
  t->next = NULL;
  method_after_redirect(hop, status);
  if (t->debug) {
    push_display_url(L, t, t->url);
    fprintf(stderr, "* following %ld redirect to %s\n", status, lua_tostring(L, -1));
  }
  push_origin(L, t, t->url);
  if (!hop->cross_origin && strcmp(lua_tostring(L, -1), lua_tostring(L, SLOT_ORIGIN)) != 0) {
    hop->cross_origin = 1; /* for this hop and every later one */
    if (t->debug)
      fprintf(stderr, "* %s is another origin: Authorization, Cookie and Proxy-Authorization not sent\n",
              lua_tostring(L, -1));
  }
  return 0;
}

static int http_request(lua_State *L) {
  struct request req;
  check_request(L, &req);
  lua_settop(L, SLOT_CAFILE);

  const struct curl_api *api = load_curl(L);
  if (!api) {
    lua_pushliteral(L, E_UNSUPPORTED);
    return 3;
  }
  struct transfer *t = new_transfer(L, api); /* SLOT_TRANSFER */
  t->debug = nt3_debug_enabled();
  t->head.limit = MAX_HEADER_BYTES;
  t->body.limit = (size_t)req.max_size;
  t->stall_timeout = req.stall_timeout;

  t->url = api->url();
  t->easy = api->easy_init();
  if (!t->url || !t->easy) return luaL_error(L, "not enough memory");
  CURLUcode uc = api->url_set(t->url, CURLUPART_URL, req.url, CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK)
    return fail(L, t, E_INVALID_URL, "invalid URL \"%s\": %s", push_printable(L, req.url), api->url_strerror(uc));
  if (refuse_url(L, t, t->url)) return fail(L, t, E_REFUSED_URL, "%s", lua_tostring(L, -1));
  push_origin(L, t, t->url); /* SLOT_ORIGIN */
  build_headers(L, t, &req);

  struct hop hop = {req.method, req.body, req.body_len, 0, 0, req.timeout};
  double deadline = nt3_monotonic() + req.timeout;
  for (lua_Integer redirects = 0;; redirects++) {
    lua_settop(L, SLOT_ORIGIN);
    const char *host = push_part(L, t, t->url, CURLUPART_HOST, 0);
    hop.loopback = host && nt3_is_loopback(host);
    hop.budget = deadline - nt3_monotonic();
    if (hop.budget <= 0) {
      char secs[32];
      format_seconds(secs, sizeof secs, req.timeout);
      return fail(L, t, E_TIMEOUT, "timed out after %s following redirects (timeout)", secs);
    }
    t->head.len = t->body.len = 0;
    t->head.overflowed = t->body.overflowed = 0;
    t->last_dl = t->last_ul = 0;
    t->stalled = 0;
    t->last_activity = nt3_monotonic();
    CURLcode rc = setup_hop(t, &req, &hop);
    if (rc != CURLE_OK)
      return fail(L, t, E_UNSUPPORTED, "libcurl refused an option: %s (libcurl 7.85 or later is needed)", api->easy_strerror(rc));
    rc = api->easy_perform(t->easy);
    if (rc != CURLE_OK) return transfer_error(L, t, &req, &hop, rc);

    long status = 0;
    api->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    push_headers(L, &t->head);
    const char *location = lua_tostring(L, -1);
    if (!is_redirect(status) || !location || req.max_redirects == 0) break;
    if (redirects >= req.max_redirects)
      return fail(L, t, E_REDIRECTS, "too many redirects (more than %I)", (LUAI_UACINT)req.max_redirects);

    int n = follow_redirect(L, t, &hop, status, location);
    if (n) return n;
  }
  lua_settop(L, SLOT_ORIGIN);
  long status = 0;
  api->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  push_response(L, t, status);
  transfer_free(t);
  return 1;
}

static const luaL_Reg http_fns[] = {
  {"request", http_request},
  {NULL, NULL},
};

int luaopen_nt3_http(lua_State *L) {
  luaL_newlib(L, http_fns);
  return 1;
}
