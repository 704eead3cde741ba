/*
 * A finished transfer as Lua values: the response (status, version,
 * reason, body, url; the headers as a table and as a list when first
 * read) or nil, message,
 * code. And what the engine reads in a response head (Retry-After,
 * Location).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

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

/* Where a head ends; NULL for an empty head that was never given memory
 * (NULL + 0 is undefined behaviour in C). */
static const char *head_end(const struct buffer *head) {
  return head->data ? head->data + head->len : NULL;
}

/* Pushes s in lower case. A header name of up to 256 bytes (all of them,
 * in practice) is lowered on the stack: luaL_Buffer cost more than the
 * rest of a response (docs/architecture.md, "Performance budget"). */
static void push_lower(lua_State *L, const char *s, size_t len) {
  char small[256];
  if (len > sizeof small) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < len; i++) luaL_addchar(&b, (char)tolower((unsigned char)s[i]));
    luaL_pushresult(&b);
    return;
  }
  for (size_t i = 0; i < len; i++) small[i] = (char)tolower((unsigned char)s[i]);
  lua_pushlstring(L, small, len);
}

/* Pushes the response headers as a table: lower-case names, repeated ones
 * joined with ", ", made at its final size, each name lowered once. */
static void push_headers(lua_State *L, const char *data, size_t len) {
  luaL_checkstack(L, 6, NULL);
  const char *p = data, *end = data + len;
  struct header_line h;
  int lines = 0;
  while (next_header(&p, end, &h)) lines++;
  lua_createtable(L, 0, lines);
  int tbl = lua_gettop(L);
  p = data;
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
    }
    lua_rawset(L, tbl);
  }
}

/* Pushes every header line of a head in order as {name = lower case,
 * value = ...}: repeats stay apart, so each Set-Cookie can be told from
 * the next. */
static void push_header_list(lua_State *L, const char *data, size_t len) {
  luaL_checkstack(L, 6, NULL);
  const char *p = data, *end = data + len;
  struct header_line h;
  int lines = 0;
  while (next_header(&p, end, &h)) lines++;
  lua_createtable(L, lines, 0);
  int list = lua_gettop(L);
  lua_Integer n = 0;
  p = data;
  while (next_header(&p, end, &h)) {
    lua_createtable(L, 0, 2);
    push_lower(L, h.name, h.name_len);
    lua_setfield(L, -2, "name");
    lua_pushlstring(L, h.value, h.value_len);
    lua_setfield(L, -2, "value");
    lua_rawseti(L, list, ++n);
  }
}

/* headers and header_list are made when a script first reads them, not
 * with every response (a script that reads only the status and the body
 * never pays for them; header_list was a table a header line, the
 * largest part of a response): the response's metatable answers the
 * first read of each from the head and stores the table in the response,
 * so every later read is a plain field (docs/architecture.md,
 * "Performance budget"). Each response has a small metatable of its own
 * that holds its head. One weak-keyed table of every response's head, as
 * there was, is an ephemeron table that every new response writes to:
 * the collector traversed it again after each write and counted that as
 * its work, so a cycle lasted tens of thousands of requests and the heap
 * of a long task.map swung between 8 and 17 MB instead of 4 and 8. */
static const char heads_key = 'h';

/* next over the raw table (not the global next, which a script may have
 * replaced) */
static int response_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static int response_index(lua_State *L) {
  size_t klen;
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &klen) : NULL;
  int list = k && klen == 11 && memcmp(k, "header_list", 11) == 0;
  if (!list && !(k && klen == 7 && memcmp(k, "headers", 7) == 0)) return 0;
  if (!lua_getmetatable(L, 1)) return 0;
  if (lua_rawgetp(L, -1, &heads_key) != LUA_TSTRING) return 0;
  size_t len;
  const char *data = lua_tolstring(L, -1, &len);
  if (list) push_header_list(L, data, len);
  else push_headers(L, data, len);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  /* the head is no longer needed once both are made */
  lua_pushstring(L, list ? "headers" : "header_list");
  int both = lua_rawget(L, 1) == LUA_TTABLE;
  lua_pop(L, 1);
  if (both) {
    lua_pushnil(L);
    lua_rawsetp(L, 3, &heads_key);
  }
  return 1;
}

/* pairs(res): both made first, so a loop over a response (a dumper, a
 * copy) sees every field, read or not; then the raw table, as next does. */
static int response_pairs(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_getfield(L, 1, "headers");
  lua_getfield(L, 1, "header_list");
  lua_settop(L, 1);
  lua_pushcfunction(L, response_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* Gives the response on top of the stack its metatable, which makes its
 * headers and header_list from the head it keeps. The metatable is
 * protected: setmetatable(res, ...) raises rather than losing the headers
 * not read yet, and getmetatable(res) gives its name, not the head. */
static void defer_headers(lua_State *L, const struct buffer *head) {
  luaL_checkstack(L, 3, NULL);
  lua_createtable(L, 0, 4);
  lua_pushcfunction(L, response_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, response_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushliteral(L, "nt3.http.response");
  lua_setfield(L, -2, "__metatable");
  lua_pushlstring(L, head->data ? head->data : "", head->len);
  lua_rawsetp(L, -2, &heads_key);
  lua_setmetatable(L, -2);
}

/* Pushes the reason phrase of the status line ("OK"; "" when there is
 * none, as always in HTTP/2 and 3). The head holds the final response
 * only: on_header drops interim ones. */
static void push_reason(lua_State *L, const struct buffer *head) {
  const char *p = head->data, *end = head_end(head);
  if (!p) {
    lua_pushliteral(L, "");
    return;
  }
  const char *eol = memchr(p, '\n', (size_t)(end - p));
  const char *stop = eol ? eol : end;
  /* "HTTP/1.1 200 OK": the reason is what follows the second space */
  const char *sp = memchr(p, ' ', (size_t)(stop - p));
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
static void push_version(lua_State *L, long v) {
  switch (v) {
  case CURL_HTTP_VERSION_1_0: lua_pushliteral(L, "1.0"); break;
  case CURL_HTTP_VERSION_1_1: lua_pushliteral(L, "1.1"); break;
  case CURL_HTTP_VERSION_2_0: lua_pushliteral(L, "2"); break;
  case CURL_HTTP_VERSION_3: lua_pushliteral(L, "3"); break;
  default: lua_pushliteral(L, ""); break;
  }
}

char *nt3_http_header(const struct buffer *head, const char *name) {
  const char *p = head->data, *end = head_end(head);
  struct header_line h;
  size_t n = strlen(name);
  while (next_header(&p, end, &h)) {
    if (h.name_len == n && strncasecmp(h.name, name, n) == 0) {
      char *v = malloc(h.value_len + 1);
      if (!v) return NULL;
      memcpy(v, h.value, h.value_len);
      v[h.value_len] = '\0';
      return v;
    }
  }
  return NULL;
}

/* RFC 9110: delay-seconds, or an HTTP-date (then the time left until it). */
double nt3_http_retry_after(const struct curl_api *api, const struct buffer *head) {
  char *v = nt3_http_header(head, "Retry-After");
  if (!v) return -1;
  double s = -1;
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (end != v && *end == '\0' && n >= 0) {
    s = (double)n;
  } else {
    time_t when = api->getdate(v, NULL);
    if (when != (time_t)-1) {
      double left = difftime(when, time(NULL));
      s = left > 0 ? left : 0;
    }
  }
  free(v);
  return s;
}

void nt3_http_mask(char *buf, size_t len, const char *secret) {
  size_t n = secret ? strlen(secret) : 0;
  if (!buf || n == 0) return;
  for (char *p = buf; (size_t)(p - buf) + n <= len;) {
    char *hit = memmem(p, len - (size_t)(p - buf), secret, n);
    if (!hit) break;
    memset(hit, '*', n);
    p = hit + n;
  }
}

size_t nt3_http_mask_stream(char *buf, size_t len, const char *secret, int last) {
  nt3_http_mask(buf, len, secret);
  size_t keep = strlen(secret) - 1;
  return last ? len : len > keep ? len - keep : 0;
}

int nt3_http_push_result(lua_State *L, struct transfer *t) {
  if (t->req.secret) {
    nt3_http_mask(t->head.data, t->head.len, t->req.secret);
    nt3_http_mask(t->body_buf.data, t->body_buf.len, t->req.secret);
    if (t->message) nt3_http_mask(t->message, strlen(t->message), t->req.secret);
    if (t->final_url) nt3_http_mask(t->final_url, strlen(t->final_url), t->req.secret);
  }
  if (t->code) {
    lua_pushnil(L);
    lua_pushstring(L, nt3_http_message(t));
    lua_pushstring(L, t->code);
    return 3;
  }
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, t->status);
  lua_setfield(L, -2, "status");
  push_version(L, t->version);
  lua_setfield(L, -2, "version");
  push_reason(L, &t->head);
  lua_setfield(L, -2, "reason");
  lua_pushlstring(L, t->body_buf.data ? t->body_buf.data : "", t->body_buf.len);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, t->final_url ? t->final_url : "");
  lua_setfield(L, -2, "url");
  if (t->req.output && t->deliver == 1) {
    lua_pushstring(L, t->req.output);
    lua_setfield(L, -2, "output");
  }
  defer_headers(L, &t->head);
  return 1;
}
