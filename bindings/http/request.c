/*
 * The request table, checked completely before anything is acquired, and
 * the header lines it asks for. Header names and values become lines of
 * the request: CR, LF or NUL in them would let a caller (or whoever fed
 * the caller) inject headers.
 *
 * Each header is checked and copied into a line in one step, into a list
 * only this file can reach: a finalizer (any allocation may run one) that
 * changes the caller's headers table afterwards changes nothing that is
 * sent, and cannot hand the header builder a value that was never checked.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "policy.h"
#include "runtime.h"

#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_STALL_TIMEOUT 30.0
#define DEFAULT_MAX_SIZE (16 * 1024 * 1024)
#define DEFAULT_MAX_REDIRECTS 5
#define DEFAULT_MAX_RETRY_WAIT 60.0

static const char *const request_fields[] = {
  "method", "url", "headers", "body", "timeout", "connect_timeout", "stall_timeout",
  "max_size", "cafile", "max_redirects", "retries", "max_retry_wait", "output", "sink", "decompress", NULL,
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

/* request_fields[F_...] */
enum {
  F_METHOD, F_URL, F_HEADERS, F_BODY, F_TIMEOUT, F_CONNECT_TIMEOUT, F_STALL_TIMEOUT, F_MAX_SIZE, F_CAFILE,
  F_MAX_REDIRECTS, F_RETRIES, F_MAX_RETRY_WAIT, F_OUTPUT, F_SINK, F_DECOMPRESS, F_COUNT
};
/* one name for each F_..., in the same order, and the NULL that ends it */
_Static_assert(sizeof request_fields / sizeof request_fields[0] == F_COUNT + 1, "request_fields and F_... differ");

/* Raises on a field that is not one of request_fields. Returns the set of
 * those the table holds (bit 1 << F_...), read off the same walk, so that
 * the fields a request leaves out (most of them) are not looked up one by
 * one; all of them when the table has a metatable (its __index may
 * answer for a field the table does not hold). */
static unsigned check_known_fields(lua_State *L) {
  unsigned present = 0;
  lua_pushnil(L);
  while (lua_next(L, REQ)) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -1);
      for (int i = 0; request_fields[i]; i++)
        if (key[0] == request_fields[i][0] && strcmp(key, request_fields[i]) == 0) {
          known = 1;
          present |= 1u << i;
          break;
        }
    }
    if (!known) {
      const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
      luaL_argerror(L, REQ, lua_pushfstring(L, "unknown field '%s' in request", name));
    }
  }
  if (lua_getmetatable(L, REQ)) {
    lua_pop(L, 1);
    present = ~0u;
  }
  return present;
}

/* Pushes req[request_fields[f]]: lua_getfield, or nil when the walk
 * found no such field. */
static int get_field(lua_State *L, unsigned present, int f) {
  if (present & (1u << f)) return lua_getfield(L, REQ, request_fields[f]);
  lua_pushnil(L);
  return LUA_TNIL;
}

/* Pushes req[key] into the next slot: a string, or nil when absent. */
static const char *string_field(lua_State *L, unsigned present, int f, size_t *len) {
  int t = get_field(L, present, f);
  if (t == LUA_TNIL) return NULL;
  if (t != LUA_TSTRING)
    luaL_argerror(L, REQ,
                  lua_pushfstring(L, "field '%s' must be a string, not %s", request_fields[f], lua_typename(L, t)));
  return lua_tolstring(L, -1, len);
}

static double seconds_field(lua_State *L, unsigned present, int f, double def) {
  if (!(present & (1u << f))) return def;
  const char *key = request_fields[f];
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

static lua_Integer count_field(lua_State *L, unsigned present, int f, lua_Integer def) {
  if (!(present & (1u << f))) return def;
  const char *key = request_fields[f];
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

/* Where check_headers collects the checked lines, "Name: value" or
 * "Name;" (curl's way to send an empty value), while it runs. */
#define LINES (SLOT_HEADERS + 1)
/* and the caller's Accept-Encoding, under this key of that table */
#define ACCEPT_ENCODING "accept-encoding"

/* Pushes the line "Name: value", or "Name;" for an empty value (neither
 * holds a NUL), made on the stack when it is short (lua_pushfstring cost
 * a third of checking a header). */
static void push_line(lua_State *L, const char *name, size_t nlen, const char *value, size_t vlen) {
  char small[512];
  size_t n = nlen + (vlen ? 2 + vlen : 1);
  if (n > sizeof small) {
    if (vlen) lua_pushfstring(L, "%s: %s", name, value);
    else lua_pushfstring(L, "%s;", name);
    return;
  }
  memcpy(small, name, nlen);
  if (vlen) {
    memcpy(small + nlen, ": ", 2);
    memcpy(small + nlen + 2, value, vlen);
  } else {
    small[nlen] = ';';
  }
  lua_pushlstring(L, small, n);
}

/* Header names and values become lines of the request: CR, LF or NUL in
 * them would let a caller (or whoever fed the caller) inject headers.
 * Checks the name at `ni` and the value at `vi` (both absolute) and adds
 * their line to LINES. */
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
  if (strcasecmp(name, "Accept-Encoding") == 0) {
    /* not a line: the engine hands it to libcurl, which then decodes what
     * the server sends (see setup_hop); two of them are one list */
    if (lua_getfield(L, LINES, ACCEPT_ENCODING) == LUA_TSTRING) {
      lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), value);
      lua_replace(L, -2);
    } else {
      lua_pop(L, 1);
      lua_pushstring(L, vlen ? value : "identity"); /* an empty one asks for no encoding */
    }
    lua_setfield(L, LINES, ACCEPT_ENCODING);
    lua_pop(L, 1);
    return;
  }
  push_line(L, name, nlen, value, vlen);
  lua_rawseti(L, LINES, (lua_Integer)lua_rawlen(L, LINES) + 1);
  lua_pop(L, 1);
  if (strcasecmp(name, "User-Agent") == 0) req->has_user_agent = 1;
  if (strcasecmp(name, "Content-Type") == 0) req->has_content_type = 1;
  if (strcasecmp(name, "Expect") == 0) req->has_expect = 1;
  if (strcasecmp(name, "Idempotency-Key") == 0) req->has_idempotency_key = 1;
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

/* Leaves the checked lines in SLOT_HEADERS (a list of strings), in the
 * order they are sent: the Name = entries, then the {name, value} pairs. */
static void check_headers(lua_State *L, struct request *req, unsigned present) {
  int t = get_field(L, present, F_HEADERS);
  if (t == LUA_TNIL) return;
  if (t != LUA_TTABLE)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field 'headers' must be a table, not %s", lua_typename(L, t)));
  lua_createtable(L, 4, 0); /* LINES, room for a few without growing */
  lua_pushnil(L);
  while (lua_next(L, SLOT_HEADERS)) {
    check_header_entry(L, req);
    lua_pop(L, 1);
  }
  check_header_pairs(L, req);
  lua_replace(L, SLOT_HEADERS);
}

/* Leaves the fields in their slots (REQ+1 .. SLOT_SINK). */
void nt3_http_check_request(lua_State *L, struct request *req) {
  luaL_checktype(L, REQ, LUA_TTABLE);
  lua_settop(L, REQ);
  memset(req, 0, sizeof *req);
  unsigned present = check_known_fields(L);

  size_t len;
  req->method = string_field(L, present, F_METHOD, &len);
  if (!req->method) req->method = "GET";
  else if (!is_token(req->method, len))
    luaL_argerror(L, REQ, lua_pushfstring(L, "invalid method '%s'", req->method));

  req->url = string_field(L, present, F_URL, &len);
  if (!req->url) luaL_argerror(L, REQ, "field 'url' is required");
  if (strlen(req->url) != len) luaL_argerror(L, REQ, "field 'url' has a NUL byte");

  check_headers(L, req, present);
  if (lua_istable(L, SLOT_HEADERS)) {
    /* the string stays alive in the table, which the transfer keeps */
    if (lua_getfield(L, SLOT_HEADERS, ACCEPT_ENCODING) == LUA_TSTRING) req->accept_encoding = lua_tostring(L, -1);
    lua_pop(L, 1);
  }

  req->body = string_field(L, present, F_BODY, &req->body_len);

  req->cafile = string_field(L, present, F_CAFILE, &len);
  if (req->cafile && (len == 0 || strlen(req->cafile) != len))
    luaL_argerror(L, REQ, "field 'cafile' must be a path");

  req->timeout = seconds_field(L, present, F_TIMEOUT, DEFAULT_TIMEOUT);
  req->connect_timeout = seconds_field(L, present, F_CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT);
  req->stall_timeout = seconds_field(L, present, F_STALL_TIMEOUT, DEFAULT_STALL_TIMEOUT);
  req->max_size = count_field(L, present, F_MAX_SIZE, DEFAULT_MAX_SIZE);
  req->max_redirects = count_field(L, present, F_MAX_REDIRECTS, DEFAULT_MAX_REDIRECTS);
  req->retries = count_field(L, present, F_RETRIES, 0);
  int dt = get_field(L, present, F_DECOMPRESS);
  if (dt != LUA_TNIL && dt != LUA_TBOOLEAN)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field 'decompress' must be a boolean, not %s", lua_typename(L, dt)));
  req->raw = dt == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  req->max_retry_wait = seconds_field(L, present, F_MAX_RETRY_WAIT, DEFAULT_MAX_RETRY_WAIT);

  req->output = string_field(L, present, F_OUTPUT, &len); /* SLOT_OUTPUT */
  if (req->output && (len == 0 || strlen(req->output) != len))
    luaL_argerror(L, REQ, "field 'output' must be a path");
  int t = get_field(L, present, F_SINK); /* SLOT_SINK */
  /* a file handle (io.stdout, io.open): written from C (stream.c) */
  const luaL_Stream *file = t == LUA_TUSERDATA ? luaL_testudata(L, -1, LUA_FILEHANDLE) : NULL;
  if (t != LUA_TNIL && t != LUA_TFUNCTION && !file)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field 'sink' must be a function or a file, not %s", luaL_typename(L, -1)));
  if (file && !file->closef) luaL_argerror(L, REQ, "field 'sink' is a closed file");
  req->has_sink = t == LUA_TFUNCTION ? NT3_SINK_FUNCTION : file ? NT3_SINK_FILE : 0;
  req->sink_file = file;
  if (req->output && req->has_sink) luaL_argerror(L, REQ, "give 'output' or 'sink', not both");
  /* a streamed body has no size cap unless the caller sets one */
  if ((req->output || req->has_sink) && get_field(L, present, F_MAX_SIZE) == LUA_TNIL)
    req->max_size = 0;
  lua_settop(L, SLOT_SINK);
}

/* ---------------------------------------------------------------------------
 * request headers
 * ------------------------------------------------------------------------- */

struct header_lists {
  const struct curl_api *api;
  struct curl_slist **all, **safe;
};

static int append_header(lua_State *L, const struct header_lists *h, struct curl_slist **list, const char *line) {
  struct curl_slist *l = h->api->slist_append(*list, line);
  if (!l) return luaL_error(L, "not enough memory");
  *list = l;
  return 0;
}

/* Builds both header lists from the lines check_headers left. */
int nt3_http_build_headers(lua_State *L, const struct curl_api *api, const struct request *req,
                           struct curl_slist **all, struct curl_slist **safe) {
  struct header_lists lists = {api, all, safe}, *t = &lists;
  luaL_checkstack(L, 2, NULL);
  lua_Integer lines = lua_istable(L, SLOT_HEADERS) ? (lua_Integer)lua_rawlen(L, SLOT_HEADERS) : 0;
  for (lua_Integer i = 1; i <= lines; i++) {
    lua_rawgeti(L, SLOT_HEADERS, i);
    const char *line = lua_tostring(L, -1);
    /* an API request of a sandbox sends the one Authorization nt3 adds;
     * no request of a sandbox names another Host than its URL's (a shared
     * server or a CDN would take it to a site the grant never named) */
    size_t nlen = strcspn(line, ":;");
    if ((req->auth && nt3_is_credential_header(line, nlen)) || (req->gate && nlen == 4 && strncasecmp(line, "Host", 4) == 0)) {
      lua_pop(L, 1);
      continue;
    }
    append_header(L, t, t->all, line);
    /* never sent to an origin other than the one the caller addressed */
    if (!nt3_is_credential_header(line, strcspn(line, ":;"))) append_header(L, t, t->safe, line);
    lua_pop(L, 1);
  }
  const char *defaults[4] = {NULL, NULL, NULL, NULL};
  int n = 0;
  if (!req->has_user_agent) defaults[n++] = "User-Agent: nt3/" NT3_VERSION;
  /* curl would wait up to a second for "100 Continue" before a large body */
  if (!req->has_expect) defaults[n++] = "Expect:";
  /* curl would label any body as a form; better no type than a wrong one */
  if ((req->body || strcmp(req->method, "POST") == 0) && !req->has_content_type)
    defaults[n++] = "Content-Type:";
  /* the token's line, a C string: never sent off the first origin */
  if (req->auth) append_header(L, t, t->all, req->auth);
  for (int i = 0; i < n; i++) {
    append_header(L, t, t->all, defaults[i]);
    append_header(L, t, t->safe, defaults[i]);
  }
  return 0;
}

