/*
 * nt3.env: the process environment, the home directory, the current
 * directory and who we are. Read-only: nt3 never changes its environment.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "runtime.h"

/* env.get(name) -> value | nil */
static int env_get(lua_State *L) {
  const char *v = getenv(luaL_checkstring(L, 1));
  if (v) lua_pushstring(L, v); else lua_pushnil(L);
  return 1;
}

/* env.home() -> $HOME, else the passwd entry | nil, message */
static int env_home(lua_State *L) {
  const char *h = nt3_home_dir();
  if (h) {
    lua_pushstring(L, h);
    return 1;
  }
  lua_pushnil(L);
  lua_pushliteral(L, "cannot find the home directory (HOME is not set)");
  return 2;
}

/* env.cwd() -> absolute path | nil, message, errno */
static int env_cwd(lua_State *L) {
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) return luaL_fileresult(L, 0, "current directory");
  lua_pushstring(L, buf);
  return 1;
}

/* env.uid() -> effective user id (owners of trusted files are compared to it) */
static int env_uid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)geteuid());
  return 1;
}

/* env.pid() -> process id */
static int env_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static const luaL_Reg env_fns[] = {
  {"get", env_get},
  {"home", env_home},
  {"cwd", env_cwd},
  {"uid", env_uid},
  {"pid", env_pid},
  {NULL, NULL},
};

int luaopen_nt3_env(lua_State *L) {
  luaL_newlib(L, env_fns);
  return 1;
}
