#ifndef NT3_RUNTIME_H
#define NT3_RUNTIME_H

#include <lua.h>

#ifdef NT3_VERSION_STRING
#define NT3_VERSION NT3_VERSION_STRING
#else
#define NT3_VERSION "0.0.0"
#endif

/* Opens the standard libraries, registers the nt3 bindings as preloads and
 * installs the searcher for embedded modules. */
void nt3_open(lua_State *L);

/* The home directory: $HOME, else the password database; NULL if neither.
 * One rule for nt3.env.home() and nt3.fs.expand(). */
const char *nt3_home_dir(void);

/* The bindings, one per file in bindings/. */
int luaopen_nt3_fs(lua_State *L);
int luaopen_nt3_prompt(lua_State *L);
int luaopen_nt3_env(lua_State *L);
int luaopen_nt3_http(lua_State *L);
int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

#endif
