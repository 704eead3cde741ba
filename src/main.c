/*
 * nt3: one Lua state, one call into nt3.cli, one exit code. main knows
 * nothing of commands; errors that escape the CLI are printed once here.
 */
#include <stdio.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <lauxlib.h>
#include <lualib.h>

#include "bigmem.h"
#include "policy.h"
#include "runtime.h"

/* message handler: the message alone, or with a traceback for NT3_DEBUG */
static int on_error(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_tolstring(L, 1, NULL);
  if (nt3_debug_enabled())
    luaL_traceback(L, L, msg, 1);
  else
    lua_pushstring(L, msg);
  return 1;
}

/* The exit status the system can carry is 0..255 (it keeps the low 8
 * bits): a command returning 256 must not look like success. */
static int exit_code(lua_State *L, int idx) {
  if (!lua_isinteger(L, idx)) return 0;
  lua_Integer c = lua_tointeger(L, idx);
  return c >= 0 && c <= 255 ? (int)c : 1;
}

static int run(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  /* Start-up allocates and keeps (the modules it loads): a collector at
   * Lua's default pause (200) ran cycles over it for nothing, 4% of a
   * `nt3 status`. Until nt3.cli is loaded the pause is 1000; the cycle
   * that follows keeps that threshold, and every later one has
   * NT3_GC_PAUSE (150), not Lua's 200: nt3's scripts keep little and make
   * a response's garbage a request, and at 200 a long task.map's heap, and
   * with it its RSS, crept up by 12% over 100,000 requests (2% at 150, in
   * no more CPU; docs/architecture.md, "Performance budget"). */
  lua_gc(L, LUA_GCINC, 1000, 0, 0);
  nt3_open(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "nt3.cli");
  lua_call(L, 1, 1);
  lua_gc(L, LUA_GCINC, NT3_GC_PAUSE, 0, 0);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}

/*
 * lua_close runs every finalizer and closes what is still open, which must
 * happen; it then frees every object one by one, which need not: the
 * process ends right after, and the kernel takes the heap back at once.
 * Those frees were a sixth of a whole `nt3 status`. So once the command is
 * done, this allocator turns frees into no-ops while lua_close still does
 * everything else. The AddressSanitizer build frees as usual, so that its
 * leak check still proves that everything is released.
 *
 * Blocks of megabytes (a kept body's string, a big table's array) are
 * mapped in 2 MB pages (src/bigmem.c): Lua gives every block's size back
 * on each resize and free, which is how the two kinds are told apart.
 */
struct allocator {
  int exiting;
};

static void *allocate(void *ud, void *ptr, size_t osize, size_t nsize) {
  const struct allocator *a = ud;
  if (nsize == 0 && a->exiting) return NULL;
  /* with ptr NULL, osize is the kind of object, not a size */
  return nt3_mem_realloc(ptr, ptr ? osize : 0, nsize);
}

#if defined(__SANITIZE_ADDRESS__)
#define NT3_FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NT3_FREE_AT_EXIT 1
#endif
#endif

int main(int argc, char **argv) {
#ifdef __linux__
  /* Before anything holds a token: a crash then writes no core file, and
   * no other process of the user may ptrace us or read /proc/<pid>/mem or
   * environ (NT3_API_TOKEN). One system call; exec resets it for children. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
  nt3_mem_init();
  nt3_keep_argv(argc, argv);
  lua_State *L = luaL_newstate();
  if (!L) {
    fputs("nt3: not enough memory\n", stderr);
    return 1;
  }
  /* luaL_newstate's panic and warning functions, with the allocator above:
   * what luaL_newstate allocated is malloc's, as small blocks are */
  struct allocator a = {0};
  lua_setallocf(L, allocate, &a);
  lua_pushcfunction(L, on_error);
  lua_pushcfunction(L, run);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int code;
  if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
    fprintf(stderr, "nt3: %s\n", lua_tostring(L, -1));
    code = 1;
  } else {
    code = exit_code(L, -1);
  }
  fflush(stdout);
#ifndef NT3_FREE_AT_EXIT
  a.exiting = 1;
#endif
  lua_close(L);
  return code;
}
