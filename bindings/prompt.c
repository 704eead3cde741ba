/* nt3.prompt: being written (placeholder so the tree builds). */
#include <lauxlib.h>

int luaopen_nt3_prompt(lua_State *L) {
  lua_newtable(L);
  return 1;
}
