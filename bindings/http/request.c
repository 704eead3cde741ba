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

static void check_known_fields(lua_State *L) {
  lua_pushnil(L);
  while (lua_next(L, REQ)) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; request_fields[i]; i++)
        if (strcmp(lua_tostring(L, -1), request_fields[i]) == 0) {
          known = 1;
          break;
        }
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

/* Where check_headers collects the checked lines, "Name: value" or
 * "Name;" (curl's way to send an empty value), while it runs. */
#define LINES (SLOT_HEADERS + 1)
/* and the caller's Accept-Encoding, under this key of that table */
#define ACCEPT_ENCODING "accept-encoding"

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
  if (vlen) lua_pushfstring(L, "%s: %s", name, value);
  else lua_pushfstring(L, "%s;", name);
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
static void check_headers(lua_State *L, struct request *req) {
  int t = lua_getfield(L, REQ, "headers");
  if (t == LUA_TNIL) return;
  if (t != LUA_TTABLE)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field 'headers' must be a table, not %s", lua_typename(L, t)));
  lua_newtable(L); /* LINES */
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
  if (lua_istable(L, SLOT_HEADERS)) {
    /* the string stays alive in the table, which the transfer keeps */
    if (lua_getfield(L, SLOT_HEADERS, ACCEPT_ENCODING) == LUA_TSTRING) req->accept_encoding = lua_tostring(L, -1);
    lua_pop(L, 1);
  }

  req->body = string_field(L, "body", &req->body_len);

  req->cafile = string_field(L, "cafile", &len);
  if (req->cafile && (len == 0 || strlen(req->cafile) != len))
    luaL_argerror(L, REQ, "field 'cafile' must be a path");

  req->timeout = seconds_field(L, "timeout", DEFAULT_TIMEOUT);
  req->connect_timeout = seconds_field(L, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  req->stall_timeout = seconds_field(L, "stall_timeout", DEFAULT_STALL_TIMEOUT);
  req->max_size = count_field(L, "max_size", DEFAULT_MAX_SIZE);
  req->max_redirects = count_field(L, "max_redirects", DEFAULT_MAX_REDIRECTS);
  req->retries = count_field(L, "retries", 0);
  int dt = lua_getfield(L, REQ, "decompress");
  if (dt != LUA_TNIL && dt != LUA_TBOOLEAN)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field 'decompress' must be a boolean, not %s", lua_typename(L, dt)));
  req->raw = dt == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  req->max_retry_wait = seconds_field(L, "max_retry_wait", DEFAULT_MAX_RETRY_WAIT);

  req->output = string_field(L, "output", &len); /* SLOT_OUTPUT */
  if (req->output && (len == 0 || strlen(req->output) != len))
    luaL_argerror(L, REQ, "field 'output' must be a path");
  int t = lua_getfield(L, REQ, "sink"); /* SLOT_SINK */
  /* a file handle (io.stdout, io.open): written from C (stream.c) */
  const luaL_Stream *file = t == LUA_TUSERDATA ? luaL_testudata(L, -1, LUA_FILEHANDLE) : NULL;
  if (t != LUA_TNIL && t != LUA_TFUNCTION && !file)
    luaL_argerror(L, REQ, lua_pushfstring(L, "field 'sink' must be a function or a file, not %s", luaL_typename(L, -1)));
  if (file && !file->closef) luaL_argerror(L, REQ, "field 'sink' is a closed file");
  req->has_sink = t == LUA_TFUNCTION ? NT3_SINK_FUNCTION : file ? NT3_SINK_FILE : 0;
  req->sink_file = file;
  if (req->output && req->has_sink) luaL_argerror(L, REQ, "give 'output' or 'sink', not both");
  /* a streamed body has no size cap unless the caller sets one */
  if ((req->output || req->has_sink) && lua_getfield(L, REQ, "max_size") == LUA_TNIL)
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

