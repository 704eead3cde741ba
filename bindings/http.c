/* nt3.http: being written (placeholder so the tree builds). */
#include <lauxlib.h>

int luaopen_nt3_http(lua_State *L) {
  lua_newtable(L);
  return 1;
}
