#ifndef NT3_RUNTIME_H
#define NT3_RUNTIME_H

#include <stddef.h>

#include <lua.h>

#ifdef NT3_VERSION_STRING
#define NT3_VERSION NT3_VERSION_STRING
#else
#define NT3_VERSION "0.0.0"
#endif

/* The collector's pause for a state that runs a script or a command (once
 * nt3's start-up is over; a sandbox's from the start): a cycle starts when
 * the heap is 1.5 times what the last one kept, not Lua's 2 times
 * (docs/architecture.md, "Performance budget"). */
#define NT3_GC_PAUSE 150

/* Opens the standard libraries, registers the nt3 bindings as preloads and
 * installs the searcher for embedded modules. */
void nt3_open(lua_State *L);

/* Keeps main's argv, for nt3.embedded.hide_arg (a token given as an
 * argument is overwritten once parsed). */
void nt3_keep_argv(int argc, char **argv);

/* The home directory: $HOME, else the password database; NULL if neither.
 * One rule for nt3.env.home() and nt3.fs.expand(). */
const char *nt3_home_dir(void);

/* Writes all of p to fd, retrying interrupted and short writes: 0, or the
 * errno. One loop for nt3.fs and the engine's output files. */
int nt3_write_all(int fd, const char *p, size_t len);

/* The C bindings, one line each: nt3.<name> is opened by luaopen_nt3_<name>
 * (bindings/<name>.c; policy is src/policy.c, which C uses too). The
 * preloads, the lazy parts of `require "nt3"` and the documentation checks
 * all follow this list. */
#define NT3_BINDINGS(X) \
  X(env)                \
  X(fs)                 \
  X(http)               \
  X(policy)             \
  X(proc)               \
  X(prompt)

#define NT3_DECLARE_BINDING(name) int luaopen_nt3_##name(lua_State *L);
NT3_BINDINGS(NT3_DECLARE_BINDING)
#undef NT3_DECLARE_BINDING

/* src/script.c: nt3.cli.script, what `nt3 run` scripts and user commands
 * need from C (Ctrl-C as a Lua error, a script's real path); private to
 * nt3.cli and commands/run.lua. */
int luaopen_nt3_cli_script(lua_State *L);

/* src/json.c: nt3.json.core, the encoder and decoder under nt3.json;
 * private to lua/nt3/json.lua. */
int luaopen_nt3_json_core(lua_State *L);

/* src/sandbox.c: nt3.sandbox, the host side of sandboxed commands
 * (describe, run); private to nt3.cli and the extensions. */
int luaopen_nt3_sandbox(lua_State *L);

/* Whether a Ctrl-C came while a sandbox ran (src/sandbox.c). */
int nt3_sandbox_interrupted(void);

/* bindings/fs.c: nt3.beneath, nt3.fs's operations beneath a root
 * (src/beneath.h); private to the sandbox, the extensions and the specs. */
int luaopen_nt3_beneath(lua_State *L);
/* The descriptor of the nt3.beneath root at idx of L, or -1 (not a root,
 * or closed). */
int nt3_beneath_root_fd(lua_State *L, int idx);
/* What a refusal of nt3_open_beneath's rules (src/beneath.h: EXDEV, ELOOP,
 * EMLINK, EINVAL; as a positive errno) is in words; strerror for the rest. */
const char *nt3_beneath_words(int err);

/* src/listen.c: nt3.testing.socket, the loopback listening socket of
 * nt3.testing's fake API server; private to lua/nt3/testing.lua. */
int luaopen_nt3_testing_socket(lua_State *L);
/* bindings/lineedit.c: nt3.lineedit, the REPL's line reader (libedit,
 * loaded when a REPL starts); private to nt3.cli.repl. */
int luaopen_nt3_lineedit(lua_State *L);

/* Whether a Ctrl-C is waiting to be raised in Lua (src/script.c): a wait in
 * C that the signal cut short returns instead of waiting again. */
int nt3_interrupt_pending(void);

int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

#endif
