/*
 * nt3.cli.script: what `nt3 run` scripts and user commands need from C
 * beyond the bindings. nt3.cli and commands/run.lua use it; it is not part
 * of the documented API.
 *
 * Ctrl-C as a Lua error, the way the lua interpreter does it: the SIGINT
 * handler only sets a hook, and the hook raises "interrupted" at the next
 * Lua instruction, so pcall and <close> clean-ups run. The handler is
 * installed with SA_RESETHAND: a second Ctrl-C finds the default action
 * and ends the process at once, whatever the script does with the first.
 *
 * A hook belongs to one thread, and a script runs in a task of nt3.task, a
 * coroutine, while the scheduler runs on the main thread: a hook set on the
 * main thread alone would never stop `while true do end` in a task. So
 * coroutine.resume and coroutine.wrap are replaced by versions that note
 * which thread runs, and the handler hooks that one and the main thread.
 * The first hook to fire raises; the others only take themselves away.
 *
 * A wait in C that the signal cuts short (a request, task.sleep: poll and
 * nanosleep return early) asks nt3_interrupt_pending() and returns instead
 * of waiting again; the hook fires as soon as Lua runs.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "runtime.h"

#define INTERRUPTED "interrupted"

/*
 * The only global mutable state, as a signal handler needs it: set before
 * the handler that reads it is installed, cleared after it is gone.
 * `running` is the thread a tracked resume has running now (NULL: the main
 * thread); it only ever points at a thread that is being resumed, so alive.
 */
static volatile sig_atomic_t pending;
static lua_State *volatile main_thread;
static lua_State *volatile running;
static struct sigaction previous;
static int installed;

int nt3_interrupt_pending(void) { return pending != 0 || nt3_sandbox_interrupted(); }

static void on_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (!pending) return; /* another thread raised it already */
  pending = 0;
  lua_pushliteral(L, INTERRUPTED);
  lua_error(L);
}

/* lua_sethook may be called from a signal handler (lua.c does the same) */
static void arm(lua_State *L) {
  lua_sethook(L, on_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static void on_sigint(int sig) {
  (void)sig;
  lua_State *co = running;
  pending = 1;
  if (co) arm(co);
  if (main_thread) arm(main_thread);
}

/* Calls the original function (upvalue 1) with every argument, noting co
 * as the running thread meanwhile. Returns the lua_pcall status, with the
 * results, or the error, unchanged on the stack. */
static int call_noting(lua_State *L, lua_State *co) {
  lua_State *outer = running;
  running = co;
  if (pending) arm(co); /* a Ctrl-C that came while it was suspended */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  running = outer;
  return status;
}

/* coroutine.resume, noting the thread it runs */
static int tracked_resume(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  if (call_noting(L, lua_tothread(L, 1)) != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

/* what coroutine.wrap returns, noting the thread it runs (upvalue 2). The
 * original puts the position of its caller before an error that is a
 * string; called from here, its caller is this C function, with no
 * position, so the position of this one's caller goes there instead, as
 * with plain Lua ("script.lua:9: script.lua:4: boom"). INTERRUPTED stays
 * as it is: it is a code that callers compare (nt3.task, the exit 130). */
static int tracked_wrapped(lua_State *L) {
  if (call_noting(L, lua_tothread(L, lua_upvalueindex(2))) == LUA_OK) return lua_gettop(L);
  if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), INTERRUPTED) != 0) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* coroutine.wrap: the original's function, whose first upvalue is its
 * thread (lcorolib.c); any other shape is returned as it is */
static int tracked_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  if (lua_getupvalue(L, -1, 1) && lua_isthread(L, -1)) {
    lua_pushcclosure(L, tracked_wrapped, 2);
  } else {
    lua_settop(L, 1);
  }
  return 1;
}

/* coroutine[name] = the tracked version, the original as its upvalue */
static void track(lua_State *L, const char *name, lua_CFunction f) {
  if (lua_getfield(L, -1, name) != LUA_TFUNCTION || lua_tocfunction(L, -1) == f) {
    lua_pop(L, 1);
    return;
  }
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
}

/* script.catch_interrupts(): from now on Ctrl-C raises "interrupted" in
 * the running Lua code. Left alone when SIGINT is ignored (`nt3 run x &`
 * from a script: the shell wants the job to outlive a Ctrl-C) or handled. */
static int catch_interrupts(lua_State *L) {
  if (installed) return 0;
  struct sigaction sa;
  if (sigaction(SIGINT, NULL, &sa) < 0) return luaL_error(L, "cannot read the SIGINT action: %s", strerror(errno));
  if ((sa.sa_flags & SA_SIGINFO) || sa.sa_handler != SIG_DFL) return 0;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, LUA_COLIBNAME) == LUA_TTABLE) {
    track(L, "resume", tracked_resume);
    track(L, "wrap", tracked_wrap);
  }
  lua_pop(L, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main_thread = lua_tothread(L, -1);
  lua_pop(L, 1);
  running = NULL;
  pending = 0;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  /* SA_RESTART: a read or write is not cut short, only waits (poll,
   * nanosleep) are, and those check nt3_interrupt_pending() */
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  if (sigaction(SIGINT, &sa, &previous) < 0) {
    main_thread = NULL;
    return luaL_error(L, "cannot catch SIGINT: %s", strerror(errno));
  }
  installed = 1;
  return 0;
}

/* script.release_interrupts(): Ctrl-C ends the process again, and an
 * interrupt not raised yet never will be. */
static int release_interrupts(lua_State *L) {
  (void)L;
  if (!installed) return 0;
  sigaction(SIGINT, &previous, NULL);
  installed = 0;
  pending = 0;
  lua_State *m = main_thread;
  if (m && lua_gethook(m) == on_hook) lua_sethook(m, NULL, 0, 0);
  main_thread = NULL;
  running = NULL;
  return 0;
}

/* script.realpath(path) -> the absolute path with no link, "." or ".." |
 * nil, message, errno */
static int script_realpath(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char real[PATH_MAX];
  if (!realpath(path, real)) return luaL_fileresult(L, 0, path);
  lua_pushstring(L, real);
  return 1;
}

static const luaL_Reg script_fns[] = {
  {"catch_interrupts", catch_interrupts},
  {"release_interrupts", release_interrupts},
  {"realpath", script_realpath},
  {NULL, NULL},
};

int luaopen_nt3_cli_script(lua_State *L) {
  luaL_newlib(L, script_fns);
  lua_pushliteral(L, INTERRUPTED);
  lua_setfield(L, -2, "INTERRUPTED");
  return 1;
}
