/*
 * The Lua state nt3 runs in: standard libraries, the C bindings (as
 * preloads, so a command that does not use one never opens it), and a
 * searcher for the modules compiled into the binary.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "embedded.h"
#include "runtime.h"
#include "sched.h"

int nt3_write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

const char *nt3_home_dir(void) {
  const char *h = getenv("HOME");
  if (h && *h) return h;
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_dir && *pw->pw_dir) return pw->pw_dir;
  return NULL;
}

const struct nt3_module *nt3_find_module(const char *name) {
  int lo = 0, hi = nt3_module_count - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int c = strcmp(name, nt3_modules[mid].name);
    if (c == 0) return &nt3_modules[mid];
    if (c < 0) hi = mid - 1; else lo = mid + 1;
  }
  return NULL;
}

/* The registry key of the globals nt3's own modules see: a copy of the
 * standard globals as they were before any script ran. A script that
 * assigns `next`, `pairs` or `io` changes its own globals, never what a
 * module of nt3 finds, even one it loads after the assignment (each
 * module also keeps what it uses as locals, taken at load). `_G` in the
 * copy is the script's table, so a module may still set a global on
 * purpose (`arg`, for nt3 run). */
#define MODULE_ENV "nt3.module_env"

/* The chunk on top of the stack gets the module globals as its _ENV. */
static void use_module_env(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, MODULE_ENV);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
}

static void snapshot_globals(lua_State *L) {
  lua_newtable(L);
  lua_pushglobaltable(L);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, MODULE_ENV);
}

/* NT3_LUA_DIR=<dir>: <dir>/nt3/cli.lua is loaded instead of the embedded
 * nt3.cli (and <dir>/nt3/new.lua is found too), so a developer edits and
 * reruns without rebuilding. Text chunks only. Returns 2 (chunk, path) when
 * found, 0 when the directory has no such file. */
static int search_dev_dir(lua_State *L, const char *dir, const char *name) {
  static const char *const forms[] = {"%s/%s.lua", "%s/%s/init.lua"};
  const char *rel = luaL_gsub(L, name, ".", "/");
  for (int i = 0; i < 2; i++) {
    const char *path = lua_pushfstring(L, forms[i], dir, rel);
    FILE *f = fopen(path, "r");
    if (!f) {
      lua_pop(L, 1);
      continue;
    }
    fclose(f);
    if (luaL_loadfilex(L, path, "t") != LUA_OK)
      return luaL_error(L, "%s", lua_tostring(L, -1));
    use_module_env(L);
    lua_insert(L, -2); /* chunk, path */
    return 2;
  }
  lua_pop(L, 1);
  return 0;
}

static int search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *dir = getenv("NT3_LUA_DIR");
  if (dir && *dir) {
    /* relative, it would load code from whatever repository one is in */
    if (*dir != '/')
      return luaL_error(L, "NT3_LUA_DIR must be an absolute path (it is \"%s\")", dir);
    int n = search_dev_dir(L, dir, name);
    if (n) return n;
  }
  const struct nt3_module *m = nt3_find_module(name);
  if (!m) {
    lua_pushfstring(L, "no embedded module '%s'", name);
    return 1;
  }
  char chunk[512];
  snprintf(chunk, sizeof chunk, "@%s", m->file);
  if (luaL_loadbufferx(L, (const char *)m->code, m->size, chunk, "b") != LUA_OK)
    return luaL_error(L, "error loading embedded module '%s': %s", name, lua_tostring(L, -1));
  use_module_env(L);
  lua_pushstring(L, chunk);
  return 2;
}

/* The process's own arguments, kept by main, so that a secret given as one
 * (nt3 login -t TOKEN) can be overwritten once it is parsed. */
static int kept_argc;
static char **kept_argv;

void nt3_keep_argv(int argc, char **argv) {
  kept_argc = argc;
  kept_argv = argv;
}

/* nt3.embedded.hide_arg(value) -> how many arguments were changed: every
 * argument that is value, or ends in it after "=" (--token=VALUE) or as a
 * short flag's value (-tVALUE), has those bytes overwritten with 'x' in
 * place, as database clients do with a password, so that ps and
 * /proc/<pid>/cmdline no longer show it. Lua's copies are untouched. */
static int embedded_hide_arg(lua_State *L) {
  size_t n;
  const char *v = luaL_checklstring(L, 1, &n);
  int count = 0;
  for (int i = 1; n > 0 && i < kept_argc; i++) {
    char *a = kept_argv[i];
    size_t len = strlen(a);
    if (len < n || memcmp(a + len - n, v, n) != 0) continue;
    if (len > n && a[len - n - 1] != '=' && a[0] != '-') continue;
    memset(a + len - n, 'x', n);
    count++;
  }
  lua_pushinteger(L, count);
  return 1;
}

/* nt3.embedded.list(prefix) -> sorted names of embedded modules */
static int embedded_list(lua_State *L) {
  size_t plen;
  const char *prefix = luaL_optlstring(L, 1, "", &plen);
  lua_newtable(L);
  int n = 0;
  for (int i = 0; i < nt3_module_count; i++)
    if (strncmp(nt3_modules[i].name, prefix, plen) == 0) {
      lua_pushstring(L, nt3_modules[i].name);
      lua_rawseti(L, -2, ++n);
    }
  return 1;
}

/* nt3.embedded.commands() -> the built-in commands as help lists them,
 * sorted by name: { name =, summary =, aliases = { ... }, hidden = true? },
 * from the index the build wrote (src/embedgen.c); no module is loaded */
static int embedded_commands(lua_State *L) {
  lua_createtable(L, nt3_command_count, 0);
  for (int i = 0; i < nt3_command_count; i++) {
    const struct nt3_command *c = &nt3_commands[i];
    lua_createtable(L, 0, 4);
    lua_pushstring(L, c->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, c->summary);
    lua_setfield(L, -2, "summary");
    lua_newtable(L);
    int n = 0;
    for (const char *p = c->aliases; *p;) {
      size_t len = strcspn(p, " ");
      lua_pushlstring(L, p, len);
      lua_rawseti(L, -2, ++n);
      p += len + (p[len] == ' ');
    }
    lua_setfield(L, -2, "aliases");
    if (c->hidden) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "hidden");
    }
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* nt3.embedded.command_shape(name) -> the Lua text the build wrote of the
 * built-in command's flags, args, ... (src/embedgen.c) | nil: unknown, or
 * not plain data at build time */
static int embedded_command_shape(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (int i = 0; i < nt3_command_count; i++)
    if (strcmp(nt3_commands[i].name, name) == 0 && nt3_commands[i].shape) {
      lua_pushstring(L, nt3_commands[i].shape);
      return 1;
    }
  lua_pushnil(L);
  return 1;
}

static int embedded_has(lua_State *L) {
  lua_pushboolean(L, nt3_find_module(luaL_checkstring(L, 1)) != NULL);
  return 1;
}

#define NT3_BINDING_ENTRY(name) {"nt3." #name, luaopen_nt3_##name},
static const luaL_Reg bindings[] = {NT3_BINDINGS(NT3_BINDING_ENTRY){NULL, NULL}};
#undef NT3_BINDING_ENTRY

static int luaopen_nt3_embedded(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"list", embedded_list},
    {"has", embedded_has},
    {"commands", embedded_commands},
    {"command_shape", embedded_command_shape},
    {"hide_arg", embedded_hide_arg},
    {NULL, NULL},
  };
  luaL_newlib(L, fns);
  lua_pushliteral(L, NT3_VERSION);
  lua_setfield(L, -2, "version");
  /* embedded.bindings: the names of the C bindings ("fs", ...), sorted */
  lua_newtable(L);
  for (int i = 0; bindings[i].name; i++) {
    lua_pushstring(L, bindings[i].name + 4);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "bindings");
  return 1;
}

/* Keeps only absolute entries of a search path: the current directory (or
 * any relative one) must never supply code. */
static void absolute_only(lua_State *L, const char *field) {
  lua_getfield(L, -1, field);
  const char *path = lua_tostring(L, -1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int first = 1;
  while (path && *path) {
    const char *end = strchr(path, ';');
    size_t len = end ? (size_t)(end - path) : strlen(path);
    if (len > 0 && path[0] == '/') {
      if (!first) luaL_addchar(&b, ';');
      luaL_addlstring(&b, path, len);
      first = 0;
    }
    path += len + (end ? 1 : 0);
  }
  luaL_pushresult(&b);
  lua_setfield(L, -3, field);
  lua_pop(L, 1);
}

static void preload(lua_State *L, const char *name, lua_CFunction f) {
  lua_pushcfunction(L, f);
  lua_setfield(L, -2, name);
}

void nt3_open(lua_State *L) {
  luaL_openlibs(L);
  snapshot_globals(L);
  lua_getglobal(L, "package");

  absolute_only(L, "path");
  absolute_only(L, "cpath");

  lua_getfield(L, -1, "preload");
  preload(L, "nt3.embedded", luaopen_nt3_embedded);
  for (int i = 0; bindings[i].name; i++) preload(L, bindings[i].name, bindings[i].func);
  preload(L, "nt3.cli.script", luaopen_nt3_cli_script);
  preload(L, "nt3.json.core", luaopen_nt3_json_core);
  preload(L, "nt3.sandbox", luaopen_nt3_sandbox);
  preload(L, "nt3.beneath", luaopen_nt3_beneath);
  preload(L, "nt3.lineedit", luaopen_nt3_lineedit);
  preload(L, "nt3.sched", luaopen_nt3_sched);
  preload(L, "nt3.testing.socket", luaopen_nt3_testing_socket);
  preload(L, "cjson", luaopen_cjson);
  preload(L, "cjson.safe", luaopen_cjson_safe);
  lua_pop(L, 1);

  /* embedded modules come right after preload, before any path: nothing on
   * disk can shadow a module nt3 ships */
  lua_getfield(L, -1, "searchers");
  int n = (int)lua_rawlen(L, -1);
  for (int i = n; i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, search_embedded);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}
