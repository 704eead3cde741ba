/*
 * src/json.c: the input decoded by nt3.json.core and by lua-cjson (the
 * grammar the core promises to take, docs/architecture.md "JSON"), its
 * items cut out, the value encoded and decoded again. Properties: no crash,
 * no undefined behaviour; core.decode accepts exactly what cjson accepts
 * (for an input with no raw control byte, which the core alone refuses);
 * core.items calls the text JSON exactly when core.decode does; a decoded
 * value that encodes (1e400 does not) decodes back to a value that encodes
 * to the same text.
 */
#include "fuzz.h"

#include <lauxlib.h>
#include <lualib.h>

int luaopen_nt3_json_core(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

static int call(lua_State *L, int core, const char *fn, int nargs, int nres) {
  lua_getfield(L, core, fn);
  lua_insert(L, -1 - nargs);
  return lua_pcall(L, nargs, nres, 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 65536) return 0;
  lua_State *L = fuzz_lua();
  static int ready;
  if (!ready) {
    luaL_openlibs(L);
    luaL_requiref(L, "nt3.json.core", luaopen_nt3_json_core, 0);
    luaL_requiref(L, "cjson.safe", luaopen_cjson_safe, 0);
    lua_getfield(L, -1, "decode_invalid_numbers");
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.cjson");
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.core");
    ready = 1;
  }
  lua_settop(L, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.core"); /* 1 */
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.cjson"); /* 2 */
  lua_pushlstring(L, (const char *)data, size); /* 3 */

  lua_pushvalue(L, 3);
  FUZZ_CHECK(call(L, 1, "decode", 1, 2) == LUA_OK, "core.decode raised: %s", lua_tostring(L, -1));
  int decoded = lua_isnil(L, -1); /* no position: accepted */
  lua_pop(L, 1); /* 4: the value, or nil */

  lua_pushvalue(L, 3);
  FUZZ_CHECK(call(L, 2, "decode", 1, 2) == LUA_OK, "cjson.decode raised");
  int theirs = lua_isnil(L, -1); /* no message: accepted */
  lua_pop(L, 2);
  if (!fuzz_has_control((const char *)data, size) && !memchr(data, '\n', size))
    FUZZ_CHECK(decoded == theirs, "core.decode %s what cjson %s", decoded ? "accepts" : "refuses",
               theirs ? "accepts" : "refuses");

  lua_pushvalue(L, 3);
  FUZZ_CHECK(call(L, 1, "items", 1, 2) == LUA_OK, "core.items raised: %s", lua_tostring(L, -1));
  int is_json = !lua_isnil(L, -2) || lua_toboolean(L, -1);
  FUZZ_CHECK(is_json == decoded, "core.items and core.decode disagree on whether it is JSON");
  lua_pop(L, 2);

  if (decoded) {
    lua_pushvalue(L, 4);
    lua_pushboolean(L, 0);
    if (call(L, 1, "encode", 2, 1) == LUA_OK) {
      lua_pushvalue(L, -1); /* 5: text, 6: text */
      FUZZ_CHECK(call(L, 1, "decode", 1, 1) == LUA_OK && !lua_isnil(L, -1), "encode gave text decode refuses");
      lua_pushboolean(L, 0);
      FUZZ_CHECK(call(L, 1, "encode", 2, 1) == LUA_OK, "the decoded text does not encode");
      FUZZ_CHECK(lua_rawequal(L, -1, 5), "encode(decode(encode(v))) ~= encode(v)");
    }
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
