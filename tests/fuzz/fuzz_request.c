/*
 * bindings/http/request.c: a request table made from the input, checked
 * as http.request checks it, and its header lines built. The input is
 * lines: a method, a URL, then headers, each "name<TAB>value"; a header
 * line's first byte picks its form (Name = value, Name = {values},
 * {name, value}). Properties: a request either raises or is accepted, and
 * no accepted line holds CR, LF or NUL or lacks its "Name:" / "Name;".
 */
#include <lualib.h>

#include "fuzz.h"

static int check_and_build(lua_State *L) {
  struct request req;
  nt3_http_check_request(L, &req);
  struct curl_slist *all = NULL, *safe = NULL;
  nt3_http_build_headers(L, fuzz_curl(), &req, &all, &safe);
  for (struct curl_slist *l = all; l; l = l->next) {
    size_t n = strlen(l->data);
    FUZZ_CHECK(!memchr(l->data, '\r', n) && !memchr(l->data, '\n', n), "a header line with CR or LF");
    FUZZ_CHECK(strcspn(l->data, ":;") > 0 && strcspn(l->data, ":;") < n, "a line without a name: %s", l->data);
  }
  fuzz_curl()->slist_free_all(all);
  fuzz_curl()->slist_free_all(safe);
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 8192) return 0;
  lua_State *L = fuzz_lua();
  lua_settop(L, 0);
  lua_pushcfunction(L, check_and_build);
  lua_newtable(L); /* the request */
  lua_newtable(L); /* its headers */
  const char *p = (const char *)data, *end = p + size;
  int line = 0;
  lua_Integer pairs = 0;
  while (p <= end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *stop = eol ? eol : end;
    size_t len = (size_t)(stop - p);
    if (line == 0) {
      lua_pushlstring(L, p, len);
      lua_setfield(L, -3, "method");
    } else if (line == 1) {
      lua_pushlstring(L, p, len);
      lua_setfield(L, -3, "url");
    } else if (len > 0) {
      char form = p[0];
      const char *name = p + 1, *tab = memchr(name, '\t', (size_t)(stop - name));
      const char *value = tab ? tab + 1 : stop;
      size_t nlen = (size_t)((tab ? tab : stop) - name), vlen = (size_t)(stop - value);
      if (form == 'p') { /* a {name, value} pair */
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, name, nlen);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, value, vlen);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, ++pairs);
      } else if (form == 'l') { /* Name = {value, value} */
        lua_pushlstring(L, name, nlen);
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, value, vlen);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, value, vlen / 2);
        lua_rawseti(L, -2, 2);
        lua_rawset(L, -3);
      } else if (form == 'n') { /* Name = a number */
        lua_pushlstring(L, name, nlen);
        lua_pushinteger(L, (lua_Integer)vlen);
        lua_rawset(L, -3);
      } else {
        lua_pushlstring(L, name, nlen);
        lua_pushlstring(L, value, vlen);
        lua_rawset(L, -3);
      }
    }
    line++;
    if (!eol) break;
    p = eol + 1;
  }
  lua_setfield(L, -2, "headers");
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1); /* a caller mistake raised: fine */
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
