/*
 * nt3.sandbox: commands that declare `permissions` run in a Lua state of
 * their own, created here, with only the capabilities they were granted
 * (docs/architecture.md, "Sandboxed commands"; docs/sandbox.md).
 *
 * The host-side interface, private to nt3.cli and the extensions (it is
 * preloaded like nt3.cli.script, and is no part of nt3.parts):
 *
 *   sandbox.describe{ dir = "/abs/dir", file = "rel.lua",
 *                     files = { ["rel.lua"] = "<sha256 hex>", ... } | nil }
 *     -> a plain-data copy of the command table (name, summary, aliases,
 *        flags, permissions, ...; no functions; has_run = true when its run
 *        is a function), loaded in a throwaway sandbox state,
 *        | nil, message, code
 *   sandbox.run{ dir =, file =, files = ... | nil, permissions = {...},
 *                name =, opts = {parsed flags}, args = {argv},
 *                api = { url =, token =, cafile = } | nil,
 *                trace = bool }
 *     -> exit code (number) | { json = text } (the rows a command with
 *        format = true returned, as JSON) | nil, message, code, exit code
 *
 * `files` non-nil means: every file the sandbox loads (the command file and
 * anything it requires) must be in the map, and its bytes (read through the
 * descriptor that is then loaded) must hash to the value, else it is
 * refused with one line naming the file (code "modified"). Without `files`
 * (a user's own command) a file is loaded only if fs.read_trusted accepts it.
 * Codes: "invalid" (the table or the permissions), "modified", "untrusted"
 * (a file the trust check refuses), "permission", "memory", "interrupted",
 * "failure" (the command raised an error), "usage" (cli.usage_error).
 *
 * The isolation, in short: the sandbox state has its own allocator (with a
 * cap), its own string metatable and globals; host Lua code never runs in
 * it and no host value reaches it but plain data copied in. Each capability
 * is a C function that checks the grant on every use. Once the memory cap
 * is hit or Ctrl-C comes, the state is doomed: a count hook on every thread
 * raises at once, and pcall, xpcall, coroutine.resume and coroutine.close
 * raise the error again instead of returning it, so the run unwinds to C
 * whatever the command does.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "beneath.h"
#include "embedded.h"
#include "gate.h"
#include "grants.h"
#include "policy.h"
#include "runtime.h"
#include "sched.h"
#include "sha256.h"

#define DEFAULT_MEMORY ((size_t)1 << 30) /* 1 GiB */
#define MAX_MEMORY ((size_t)16 << 30)
#define FILE_MAX (1024 * 1024)
#define HOOK_COUNT 1000
#define MAX_COPY_DEPTH 16
#define MAX_COPY_ITEMS 100000

#define INTERRUPTED "interrupted"
#define MEMORY_MSG "nt3.sandbox: memory limit"
#define PERMISSION_MT "nt3.sandbox.permission"
#define FAILURE_MT "nt3.sandbox.failure"
#define LOADED_KEY "nt3.sandbox.loaded"
#define READ_KEY "nt3.sandbox.read_trusted"
#define PROC_KEY "nt3.sandbox.proc_run"

/* Ctrl-C while a sandbox runs: the handler only sets this. */
static volatile sig_atomic_t interrupted;

int nt3_sandbox_interrupted(void) { return interrupted != 0; }

static const char *const METHODS[] = {"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", NULL};
#define READ_METHODS 7u /* GET, HEAD, OPTIONS */
#define ALL_METHODS 127u

struct list {
  char **v;
  int n;
};

struct sandbox {
  struct nt3_http_gate gate; /* first: the gate's pointer is the sandbox's */
  lua_State *L;
  size_t used, cap;
  int refused_last; /* the last growing allocation was refused */
  int doomed;       /* the cap was hit: the state only unwinds now */
  char tampered[PATH_MAX + 100]; /* a file failed its sha256: the same */
  int closing; /* the run is over: finalizers are cut short */
  int trace;
  char traced[600]; /* the last refusal the gate traced: gate_raise does not trace it twice */
  char name[64];
  /* grants */
  unsigned api_methods;
  char api_origin[320];
  char *api_url, *auth, *token, *cafile;
  struct list http, env, proc, fs_read, fs_write;
  char **child_env;
  int prompt;
  /* the command's files */
  char *dir;
  struct list file_names, file_hashes;
  int have_files;
  int out_tty, err_tty;
  /* nt3.ui's progress line (io.progress_line): what it last asked for, as
   * it came (sanitised when drawn), whether it is drawn, and whether output
   * to the terminal has left a line unfinished (the bar waits for its end).
   * progress: the host's progress setting, which nt3.ui asks for. */
  int progress;
  char bar[512];
  size_t bar_len;
  int bar_drawn, mid_line;
};

static struct sandbox *sandbox_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

static int ending(const struct sandbox *s) { return s->doomed || s->tampered[0] || s->closing || interrupted; }

/* --- memory --------------------------------------------------------------- */

/* The allocator of a sandbox: a cap on the bytes in use. A refused
 * allocation makes Lua collect everything and try once more; refused
 * again, the state is doomed. */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct sandbox *s = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    s->used -= old;
    return NULL;
  }
  if (nsize > old && (s->doomed || nsize - old > s->cap - s->used)) {
    if (s->refused_last) s->doomed = 1;
    s->refused_last = 1;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (!p) {
    if (nsize > old) {
      if (s->refused_last) s->doomed = 1;
      s->refused_last = 1;
    }
    return NULL;
  }
  if (nsize > old) s->refused_last = 0;
  s->used = s->used - old + nsize;
  return p;
}

/* --- the end: Ctrl-C and the memory cap ------------------------------------ */

/* Raises the error that ends the run. Both strings are anchored in the
 * registry, so pushing one allocates nothing. */
static int raise_end(lua_State *L, struct sandbox *s) {
  lua_pushstring(L, s->doomed || s->tampered[0] ? MEMORY_MSG : INTERRUPTED);
  return lua_error(L);
}

static void sb_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  struct sandbox *s = sandbox_of(L);
  if (ending(s)) raise_end(L, s);
}

static void arm(lua_State *co) { lua_sethook(co, sb_hook, LUA_MASKCOUNT, HOOK_COUNT); }

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* pcall's and xpcall's end: an error that ends the run is raised again */
static int finish_pcall(lua_State *L, int status, lua_KContext extra) {
  struct sandbox *s = sandbox_of(L);
  if (status != LUA_OK && status != LUA_YIELD) {
    if (status == LUA_ERRMEM) s->doomed = 1;
    if (ending(s)) return raise_end(L, s);
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)extra;
}

static int sb_pcall(lua_State *L) {
  luaL_checkany(L, 1);
  struct sandbox *s = sandbox_of(L);
  if (ending(s)) return raise_end(L, s);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
  return finish_pcall(L, status, 0);
}

static int sb_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  struct sandbox *s = sandbox_of(L);
  if (ending(s)) return raise_end(L, s);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
  return finish_pcall(L, status, 2);
}

/* coroutine.resume and coroutine.close: the originals (upvalue 1), but an
 * error that ends the run is raised again */
static int sb_catcher(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  struct sandbox *s = sandbox_of(L);
  if (ending(s)) return raise_end(L, s);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  if (!lua_toboolean(L, 1)) {
    if (lua_status(co) == LUA_ERRMEM) s->doomed = 1;
    if (ending(s)) return raise_end(L, s);
  }
  return lua_gettop(L);
}

/* coroutine.create and coroutine.wrap: every thread gets the hook */
static int sb_create(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  lua_State *co = lua_tothread(L, -1);
  if (co) arm(co);
  else if (lua_getupvalue(L, -1, 1)) { /* wrap: its thread is upvalue 1 */
    co = lua_tothread(L, -1);
    lua_pop(L, 1);
    if (!co) return luaL_error(L, "coroutine.wrap made no thread");
    arm(co);
  }
  return 1;
}

/* --- errors ------------------------------------------------------------------ */

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  return 1;
}

static void new_error_mt(lua_State *L, const char *key) {
  luaL_newmetatable(L, key);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

struct text {
  char *buf;
  size_t len, size;
};

static void to_text(void *ud, const char *p, size_t n) {
  struct text *t = ud;
  if (n > t->size - 1 - t->len) n = t->size - 1 - t->len;
  memcpy(t->buf + t->len, p, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

/* s as one printable line (policy.sanitize's rule), cut to fit buf */
static const char *printable(char *buf, size_t size, const char *s) {
  struct text t = {buf, 0, size};
  buf[0] = '\0';
  nt3_printable(to_text, &t, s, strlen(s), size / 2);
  return buf;
}

static void trace(const struct sandbox *s, const char *verdict, const char *what) {
  if (!s->trace) return;
  char shown[400];
  fprintf(stderr, "nt3: sandbox %s: %s %s\n", s->name, verdict, printable(shown, sizeof shown, what));
}

/* Raises { message = "permission denied: <what> (not granted: <perm>)",
 * kind = "permission" } in the sandbox (and traces it, unless the gate did
 * already). */
static int gate_raise(lua_State *L, const char *message) {
  struct sandbox *s = sandbox_of(L);
  static const char prefix[] = "permission denied: ";
  if (strcmp(message, s->traced) != 0)
    trace(s, "refused", strncmp(message, prefix, sizeof prefix - 1) == 0 ? message + sizeof prefix - 1 : message);
  s->traced[0] = '\0';
  lua_createtable(L, 0, 2);
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  lua_pushliteral(L, "permission");
  lua_setfield(L, -2, "kind");
  luaL_setmetatable(L, PERMISSION_MT);
  return lua_error(L);
}

static int refuse(lua_State *L, const char *what, const char *perm) {
  char msg[PATH_MAX + 300];
  snprintf(msg, sizeof msg, "permission denied: %s (not granted: %s)", what, perm);
  return gate_raise(L, msg);
}

/* --- lists ------------------------------------------------------------------- */

static int list_add(struct list *l, const char *v) {
  char **nv = realloc(l->v, sizeof *nv * (size_t)(l->n + 1));
  if (!nv) return -1;
  l->v = nv;
  if (!(l->v[l->n] = strdup(v))) return -1;
  l->n++;
  return 0;
}

static int list_has(const struct list *l, const char *v) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->v[i], v) == 0) return i + 1;
  return 0;
}

static void list_free(struct list *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* --- the permissions ------------------------------------------------------- */

static int bad(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, size, fmt, ap);
  va_end(ap);
  return -1;
}

/* A list of strings at the top of L into l; each checked by ok(). */
static int string_list(lua_State *L, const char *perm, struct list *l, int (*ok)(const char *v, char *out, size_t n),
                       char *why, size_t size) {
  if (!lua_istable(L, -1)) return bad(why, size, "permission '%s' must be a list of strings", perm);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
      lua_pop(L, 1);
      return bad(why, size, "permission '%s' must be a list of strings", perm);
    }
  }
  for (lua_Integer i = 1; i <= n; i++) {
    char out[400];
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
      lua_pop(L, 1);
      return bad(why, size, "permission '%s' must be a list of strings", perm);
    }
    size_t len;
    const char *v = lua_tolstring(L, -1, &len);
    if (strlen(v) != len || len >= 300 || ok(v, out, sizeof out) != 0) {
      char shown[200];
      snprintf(why, size, "permission '%s': \"%s\" %s", perm, printable(shown, sizeof shown, v),
               out[0] ? out : "is not valid");
      lua_pop(L, 1);
      return -1;
    }
    lua_pop(L, 1);
    if (list_add(l, out) != 0) return bad(why, size, "%s", "not enough memory");
  }
  return 0;
}

static int ok_origin(const char *v, char *out, size_t n) {
  if (nt3_canonical_origin(v, out, n) == 0) return 0;
  snprintf(out, n, "is not an origin (https://host[:port])");
  return -1;
}

static int ok_env(const char *v, char *out, size_t n) {
  if (strcmp(v, "NT3_API_TOKEN") == 0) {
    snprintf(out, n, "is never granted (the token stays with nt3)");
    return -1;
  }
  int good = (v[0] == '_' || (v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z'));
  for (const char *p = v; *p && good; p++)
    good = *p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
  if (good) snprintf(out, n, "%s", v);
  else snprintf(out, n, "is not a variable name");
  return good ? 0 : -1;
}

static int ok_program(const char *v, char *out, size_t n) {
  int good = v[0] == '/' && !strstr(v, "/../") && !strstr(v, "/./") && strcmp(v + strlen(v) - 3 < v ? v : v + strlen(v) - 3, "/..") != 0;
  if (good) snprintf(out, n, "%s", v);
  else snprintf(out, n, "is not an absolute path to a program");
  return good ? 0 : -1;
}

static int ok_root(const char *v, char *out, size_t n) {
  int good = strcmp(v, ".") == 0 || strncmp(v, "./", 2) == 0 || strcmp(v, "~") == 0 || strncmp(v, "~/", 2) == 0 ||
             v[0] == '/';
  if (good && strstr(v, "..")) good = 0;
  if (good) snprintf(out, n, "%s", v);
  else snprintf(out, n, "is not a root (\".\", \"./dir\", \"~/dir\" or an absolute path)");
  return good ? 0 : -1;
}

static int method_bit(const char *m) {
  for (int i = 0; METHODS[i]; i++)
    if (strcasecmp(m, METHODS[i]) == 0) return 1 << i;
  return 0;
}

/* The permissions table at idx of L into s (NULL: only checked). Returns
 * 0, or -1 with why filled. */
static int parse_grants(lua_State *L, int idx, struct sandbox *s, char *why, size_t size) {
  static const char *const known[] = {"api", "http", "fs", "env", "proc", "prompt", "memory", NULL};
  struct sandbox scratch;
  int keep = s != NULL;
  if (!s) {
    memset(&scratch, 0, sizeof scratch);
    s = &scratch;
  }
  s->cap = DEFAULT_MEMORY;
  idx = lua_absindex(L, idx);
  int rc = -1;
  luaL_checkstack(L, 8, NULL);
  if (!lua_istable(L, idx)) {
    bad(why, size, "%s", "'permissions' must be a table");
    goto done;
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int found = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; known[i]; i++)
        if (strcmp(lua_tostring(L, -1), known[i]) == 0) found = 1;
    if (!found) {
      char shown[100];
      bad(why, size, "unknown permission '%s' (api, http, fs, env, proc, prompt, memory)",
          lua_type(L, -1) == LUA_TSTRING ? printable(shown, sizeof shown, lua_tostring(L, -1)) : "?");
      lua_pop(L, 1);
      goto done;
    }
  }
  int t = lua_getfield(L, idx, "api");
  if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "read") == 0) s->api_methods = READ_METHODS;
  else if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "write") == 0) s->api_methods = ALL_METHODS;
  else if (t == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      int bit = lua_rawgeti(L, -1, i) == LUA_TSTRING ? method_bit(lua_tostring(L, -1)) : 0;
      lua_pop(L, 1);
      if (!bit) {
        lua_pop(L, 1);
        bad(why, size, "%s", "permission 'api' must be \"read\", \"write\" or a list of methods (GET, POST, ...)");
        goto done;
      }
      s->api_methods |= (unsigned)bit;
    }
    if (n == 0) {
      lua_pop(L, 1);
      bad(why, size, "%s", "permission 'api' must be \"read\", \"write\" or a list of methods (GET, POST, ...)");
      goto done;
    }
  } else if (t != LUA_TNIL) {
    lua_pop(L, 1);
    bad(why, size, "%s", "permission 'api' must be \"read\", \"write\" or a list of methods (GET, POST, ...)");
    goto done;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, idx, "http") != LUA_TNIL && string_list(L, "http", &s->http, ok_origin, why, size) != 0) goto pop;
  lua_pop(L, 1);
  if (lua_getfield(L, idx, "env") != LUA_TNIL && string_list(L, "env", &s->env, ok_env, why, size) != 0) goto pop;
  lua_pop(L, 1);
  if (lua_getfield(L, idx, "proc") != LUA_TNIL && string_list(L, "proc", &s->proc, ok_program, why, size) != 0) goto pop;
  lua_pop(L, 1);
  t = lua_getfield(L, idx, "fs");
  if (t != LUA_TNIL) {
    if (t != LUA_TTABLE) {
      bad(why, size, "%s", "permission 'fs' must be a table { read = {...}, write = {...} }");
      goto pop;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
      if (strcmp(k, "read") != 0 && strcmp(k, "write") != 0) {
        lua_pop(L, 1);
        bad(why, size, "%s", "permission 'fs' takes only 'read' and 'write'");
        goto pop;
      }
    }
    if (lua_getfield(L, -1, "read") != LUA_TNIL && string_list(L, "fs.read", &s->fs_read, ok_root, why, size) != 0) {
      lua_pop(L, 1);
      goto pop;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "write") != LUA_TNIL && string_list(L, "fs.write", &s->fs_write, ok_root, why, size) != 0) {
      lua_pop(L, 1);
      goto pop;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  t = lua_getfield(L, idx, "prompt");
  if (t != LUA_TNIL && t != LUA_TBOOLEAN) {
    bad(why, size, "%s", "permission 'prompt' must be true or false");
    goto pop;
  }
  s->prompt = lua_toboolean(L, -1);
  lua_pop(L, 1);
  t = lua_getfield(L, idx, "memory");
  if (t == LUA_TNUMBER || t == LUA_TSTRING) {
    char spec[64];
    if (lua_isinteger(L, -1)) snprintf(spec, sizeof spec, "%lld", (long long)lua_tointeger(L, -1));
    else snprintf(spec, sizeof spec, "%s", t == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    if (nt3_parse_memory(spec, MAX_MEMORY, &s->cap) != 0) {
      bad(why, size, "%s", "permission 'memory' must be a size from 1M to 16G (\"256M\", \"2G\")");
      goto pop;
    }
  } else if (t != LUA_TNIL) {
    bad(why, size, "%s", "permission 'memory' must be a size from 1M to 16G (\"256M\", \"2G\")");
    goto pop;
  }
  lua_pop(L, 1);
  rc = 0;
  goto done;
pop:
  lua_pop(L, 1);
done:
  if (!keep) {
    list_free(&s->http);
    list_free(&s->env);
    list_free(&s->proc);
    list_free(&s->fs_read);
    list_free(&s->fs_write);
  }
  return rc;
}

/* --- the gate on nt3.http --------------------------------------------------- */

static int gate_allow(const struct nt3_http_gate *g, int api, const char *method, const char *origin, char *why,
                      size_t size) {
  struct sandbox *s = (struct sandbox *)g;
  char canon[400], what[600];
  int known = nt3_canonical_origin(origin, canon, sizeof canon) == 0;
  if (api) {
    snprintf(what, sizeof what, "nt3.api %s %s", method, known ? canon : origin);
    if (!known || strcmp(canon, s->api_origin) != 0) {
      snprintf(why, size, "permission denied: %s (not granted: api, which reaches %s only)", what, s->api_origin);
      trace(s, "refused", what);
      snprintf(s->traced, sizeof s->traced, "%s", why);
      return -1;
    }
    if (!(s->api_methods & (unsigned)method_bit(method))) {
      snprintf(why, size, "permission denied: %s (not granted: api %s)", what, method);
      trace(s, "refused", what);
      snprintf(s->traced, sizeof s->traced, "%s", why);
      return -1;
    }
  } else {
    snprintf(what, sizeof what, "http %s %s", method, known ? canon : origin);
    if (!known || !list_has(&s->http, canon)) {
      snprintf(why, size, "permission denied: %s (not granted: http)", what);
      trace(s, "refused", what);
      snprintf(s->traced, sizeof s->traced, "%s", why);
      return -1;
    }
  }
  trace(s, "allowed", what);
  return 0;
}

/* --- output ------------------------------------------------------------------ */

static void to_file(void *ud, const char *p, size_t n) { fwrite(p, 1, n, ud); }

/* The progress line: back to the line's start, the bar as one line of
 * printable text, the rest of the line erased (no bar: only erased). */
struct line_buf {
  char p[4 * sizeof ((struct sandbox *)0)->bar + 8];
  size_t n;
};

static void to_line(void *ud, const char *p, size_t n) {
  struct line_buf *b = ud;
  size_t room = sizeof b->p - 3 - b->n; /* 3: the erase that ends the line */
  if (n > room) n = room;
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

/* One write(2) for the whole line, as nt3.ui's own: a terminal's echo
 * (Ctrl-C's "^C") can land between two writes, never inside one. */
static void draw_bar(struct sandbox *s, int shown) {
  struct line_buf b = {.n = 0};
  to_line(&b, "\r", 1);
  if (shown) nt3_printable_as(to_line, &b, s->bar, s->bar_len, 0, 0);
  memcpy(b.p + b.n, "\033[K", 3);
  b.n += 3;
  fflush(stderr);
  (void)nt3_write_all(STDERR_FILENO, b.p, b.n);
  s->bar_drawn = shown;
}

static void emit_text(struct sandbox *s, FILE *f, const char *p, size_t n);

/* What the command writes, through the sanitiser at a terminal (its
 * colours kept); a progress line shown is erased first and drawn again
 * once the output has ended its line
 * (docs/architecture.md, "Output for people and for pipes"). */
static void emit(struct sandbox *s, int fd, const char *p, size_t n) {
  FILE *f = fd == 1 ? stdout : stderr;
  if (!(fd == 1 ? s->out_tty : s->err_tty)) {
    fwrite(p, 1, n, f);
    return;
  }
  if (n == 0) return;
  if (s->bar_drawn) draw_bar(s, 0);
  emit_text(s, f, p, n);
  s->mid_line = p[n - 1] != '\n';
  if (s->bar_len && !s->mid_line) {
    fflush(f);
    draw_bar(s, 1);
  }
}

/* Whether SGR parameter v (a whole number) can be shown: none that could
 * hide text (docs/architecture.md, "Sandboxed commands"). Kept: reset, bold,
 * dim, italic, underline and their ends, the default foreground and the six
 * foreground colours that are never a terminal's background (31-36, 91-96).
 * Dropped: conceal (8), reverse, blink, every background, black, white,
 * bright black and bright white (a background of some theme), and extended
 * colours (38/48, with their sub-parameters). */
static int sgr_shown(unsigned long v) {
  return v <= 4 || (v >= 22 && v <= 24) || v == 39 || (v >= 31 && v <= 36) || (v >= 91 && v <= 96);
}

/* Writes the SGR sequence q[0..n) (its parameters, without ESC [ and m)
 * with only the parameters sgr_shown keeps; nothing when none is kept. */
static void emit_sgr(FILE *f, const char *q, size_t n) {
  char out[64];
  size_t o = 0;
  int extended = 0; /* after 38 or 48: the rest of the sequence is its colour */
  if (n == 0) {
    fputs("\033[m", f);
    return;
  }
  for (size_t i = 0; i <= n && !extended;) {
    size_t j = i;
    int sub = 0;
    unsigned long v = 0;
    while (j < n && q[j] != ';') {
      if (q[j] == ':') sub = 1;
      else if (v < 1000) v = v * 10 + (unsigned long)(q[j] - '0');
      j++;
    }
    if (v == 38 || v == 48 || v == 58) extended = 1;
    else if (!sub && sgr_shown(v) && o + 6 < sizeof out) o += (size_t)snprintf(out + o, sizeof out - o, "%s%lu", o ? ";" : "", v);
    i = j + 1;
  }
  if (o) fprintf(f, "\033[%.*sm", (int)o, out);
}

/* Text for a terminal: SGR sequences (ESC [ digits ; m) kept with only the
 * parameters that cannot hide text, every other control replaced, as
 * policy.sanitize does with lines. */
static void emit_text(struct sandbox *s, FILE *f, const char *p, size_t n) {
  (void)s;
  size_t start = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (p[i] != '\033' || p[i + 1] != '[') continue;
    size_t j = i + 2;
    while (j < n && ((p[j] >= '0' && p[j] <= '9') || p[j] == ';' || p[j] == ':')) j++;
    if (j < n && p[j] == 'm') {
      nt3_printable_as(to_file, f, p + start, i - start, 0, NT3_TEXT_LINES);
      emit_sgr(f, p + i + 2, j - i - 2);
      start = j + 1;
      i = j;
    }
  }
  nt3_printable_as(to_file, f, p + start, n - start, 0, NT3_TEXT_LINES);
}

static void emit_args(lua_State *L, int fd, const char *sep, const char *end) {
  struct sandbox *s = sandbox_of(L);
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++) {
    size_t len;
    const char *v = luaL_tolstring(L, i, &len);
    if (i > 1 && sep) emit(s, fd, sep, strlen(sep));
    emit(s, fd, v, len);
    lua_pop(L, 1);
  }
  if (end) emit(s, fd, end, strlen(end));
}

static int sb_print(lua_State *L) {
  emit_args(L, 1, "\t", "\n");
  return 0;
}

/* cli.out(...): the strings as they are, to stdout */
static int cli_out(lua_State *L) {
  emit_args(L, 1, NULL, NULL);
  return 0;
}

/* cli.print(...): tostring of each, separated by spaces, and a newline */
static int cli_print(lua_State *L) {
  emit_args(L, 1, " ", "\n");
  return 0;
}

static int cli_errorln(lua_State *L) {
  emit_args(L, 2, NULL, "\n");
  return 0;
}

static int cli_warn(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  size_t len;
  const char *m = luaL_checklstring(L, 1, &len);
  emit(s, 2, "nt3: warning: ", 14);
  emit(s, 2, m, len);
  emit(s, 2, "\n", 1);
  return 0;
}

/* cli.fail(message[, code]) and cli.usage_error(message) */
static int raise_failure(lua_State *L, lua_Integer code) {
  lua_createtable(L, 0, 2);
  luaL_tolstring(L, 1, NULL);
  lua_setfield(L, -2, "message");
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  luaL_setmetatable(L, FAILURE_MT);
  return lua_error(L);
}

static int cli_fail(lua_State *L) {
  lua_Integer code = 1;
  if (lua_isinteger(L, 2)) code = lua_tointeger(L, 2);
  else if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "not_logged_in") == 0) code = 4;
  if (code < 0 || code > 255) code = 1;
  return raise_failure(L, code);
}

static int cli_usage_error(lua_State *L) { return raise_failure(L, 2); }

static int open_cli(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"out", cli_out}, {"print", cli_print}, {"errorln", cli_errorln}, {"warn", cli_warn},
    {"fail", cli_fail}, {"usage_error", cli_usage_error}, {NULL, NULL},
  };
  luaL_newlib(L, fns);
  lua_createtable(L, 0, 5);
  static const struct { const char *k; int v; } exits[] = {
    {"ok", 0}, {"failure", 1}, {"usage", 2}, {"not_logged_in", 4}, {"interrupted", 130}, {NULL, 0}};
  for (int i = 0; exits[i].k; i++) {
    lua_pushinteger(L, exits[i].v);
    lua_setfield(L, -2, exits[i].k);
  }
  lua_setfield(L, -2, "EXIT");
  return 1;
}

/* --- nt3.ui ------------------------------------------------------------------ */

/* nt3.ui (lua/nt3/ui.lua) runs in a sandbox as it is, in an environment of
 * its own: its `io` is two streams that write as print does (emit: the
 * sanitiser at a terminal), its nt3.prompt says only whether a stream is a
 * terminal and how wide, and its nt3.env reads only the variables that
 * decide colour and width. Nothing of that environment is reachable but
 * through ui's own functions (they are upvalues, and there is no debug). */
#define UI_STREAM "nt3.sandbox.ui_stream"

/* stream:write(...) -> stream: each string as print writes it */
static int ui_write(lua_State *L) {
  const int *fd = luaL_checkudata(L, 1, UI_STREAM);
  struct sandbox *s = sandbox_of(L);
  int n = lua_gettop(L);
  for (int i = 2; i <= n; i++) {
    size_t len;
    const char *v = luaL_checklstring(L, i, &len);
    emit(s, *fd, v, len);
  }
  lua_settop(L, 1);
  return 1;
}

static int ui_flush(lua_State *L) {
  const int *fd = luaL_checkudata(L, 1, UI_STREAM);
  fflush(*fd == 1 ? stdout : stderr);
  lua_settop(L, 1);
  return 1;
}

/* io.type(v): "file" for the two streams */
static int ui_io_type(lua_State *L) {
  luaL_checkany(L, 1);
  if (luaL_testudata(L, 1, UI_STREAM)) lua_pushliteral(L, "file");
  else lua_pushnil(L);
  return 1;
}

/* env.get(name): NO_COLOR, CLICOLOR_FORCE, TERM and COLUMNS only */
static int ui_env_get(lua_State *L) {
  static const char *const shown[] = {"NO_COLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS", NULL};
  const char *name = luaL_checkstring(L, 1);
  for (int i = 0; shown[i]; i++)
    if (strcmp(name, shown[i]) == 0 && getenv(name)) {
      lua_pushstring(L, getenv(name));
      return 1;
    }
  lua_pushnil(L);
  return 1;
}

/* settings.get(key): nt3's configuration files are the host's; in a
 * sandbox the color setting is its default, "auto", and the progress
 * setting what the host read (sandbox.run's `progress`) */
static int ui_setting(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  if (strcmp(key, "color") == 0) lua_pushliteral(L, "auto");
  else if (strcmp(key, "progress") == 0) lua_pushboolean(L, sandbox_of(L)->progress);
  else lua_pushnil(L);
  return 1;
}

/* io.progress_line(text): nt3.ui's bar, the only way it reaches the
 * terminal with controls of its own: "\r", text as one line of printable
 * text, the rest of the line erased ("" erases it). On a terminal's stderr
 * only; while output has left a line unfinished it is drawn once the line
 * ends (emit). */
static int ui_progress_line(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  if (!s->err_tty) return 0;
  if (len > sizeof s->bar) len = sizeof s->bar;
  memcpy(s->bar, text, len);
  s->bar_len = len;
  if (len == 0) {
    if (s->bar_drawn) draw_bar(s, 0);
  } else if (!s->mid_line) {
    draw_bar(s, 1);
  }
  return 0;
}

static int sb_require(lua_State *L);

/* require as nt3.ui sees it: its nt3.env, nt3.prompt and
 * nt3.config.settings (upvalues 1, 2, 3) */
static int ui_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (strcmp(name, "nt3.env") == 0) lua_pushvalue(L, lua_upvalueindex(1));
  else if (strcmp(name, "nt3.prompt") == 0) lua_pushvalue(L, lua_upvalueindex(2));
  else if (strcmp(name, "nt3.config.settings") == 0) lua_pushvalue(L, lua_upvalueindex(3));
  else return sb_require(L);
  return 1;
}

static void new_ui_stream(lua_State *L, int fd) {
  int *p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = fd;
  luaL_setmetatable(L, UI_STREAM);
}

/* Pushes the environment nt3.ui's chunk runs in. */
static void push_ui_env(lua_State *L) {
  if (luaL_newmetatable(L, UI_STREAM)) {
    static const luaL_Reg methods[] = {{"write", ui_write}, {"flush", ui_flush}, {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_createtable(L, 0, 4); /* io */
  new_ui_stream(L, 1);
  lua_setfield(L, -2, "stdout");
  new_ui_stream(L, 2);
  lua_setfield(L, -2, "stderr");
  lua_pushcfunction(L, ui_io_type);
  lua_setfield(L, -2, "type");
  lua_pushcfunction(L, ui_progress_line);
  lua_setfield(L, -2, "progress_line");
  lua_setfield(L, -2, "io");
  lua_createtable(L, 0, 1); /* its nt3.env */
  lua_pushcfunction(L, ui_env_get);
  lua_setfield(L, -2, "get");
  lua_createtable(L, 0, 2); /* its nt3.prompt */
  luaopen_nt3_prompt(L);
  lua_getfield(L, -1, "isatty");
  lua_setfield(L, -3, "isatty");
  lua_getfield(L, -1, "columns");
  lua_setfield(L, -3, "columns");
  lua_pop(L, 1);
  lua_createtable(L, 0, 1); /* its nt3.config.settings */
  lua_pushcfunction(L, ui_setting);
  lua_setfield(L, -2, "get");
  lua_pushcclosure(L, ui_require, 3);
  lua_setfield(L, -2, "require");
  /* the rest of what it reads at load (ipairs, math, ...) is the sandbox's */
  lua_createtable(L, 0, 1);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
}

/* --- env, proc, prompt ------------------------------------------------------- */

/* env.get(name) -> value | nil, for a granted name only */
static int env_get(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  const char *name = luaL_checkstring(L, 1);
  char what[300];
  snprintf(what, sizeof what, "env %s", name);
  if (!list_has(&s->env, name)) return refuse(L, what, "env");
  trace(s, "allowed", what);
  const char *v = getenv(name);
  if (v) lua_pushstring(L, v);
  else lua_pushnil(L);
  return 1;
}

static int open_env(lua_State *L) {
  static const luaL_Reg fns[] = {{"get", env_get}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

/* proc.run(argv[, opts]): nt3.proc's, for a granted program only, with
 * an environment of the granted variables alone */
static int proc_run(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *prog = lua_rawgeti(L, 1, 1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  char what[400];
  snprintf(what, sizeof what, "proc %s", prog);
  if (!list_has(&s->proc, prog)) return refuse(L, what, "proc");
  lua_pop(L, 1);
  trace(s, "allowed", what);
  lua_getfield(L, LUA_REGISTRYINDEX, PROC_KEY);
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int open_proc(lua_State *L) {
  static const luaL_Reg fns[] = {{"run", proc_run}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

/* --- api ----------------------------------------------------------------------- */

/* Raises unless a request of the command's to the API comes back whole and
 * decoded: the token is masked in the body it reads, which neither raw
 * compressed bytes (decompress = false) nor a body in pieces (a Range of
 * the caller's, each piece shorter than the token) would let the mask
 * see. req is the command's table (decompress is never passed on: asking
 * for it is only refused, in words); sent is the copy that goes to the
 * request, whose headers are judged as the request reads them (raw, with
 * lua_next), so a metamethod cannot show one table here and another there. */
static void whole_bodies_only(lua_State *L, int req, int sent) {
  if (lua_getfield(L, req, "decompress") != LUA_TNIL && !lua_toboolean(L, -1))
    luaL_argerror(L, 1, "field 'decompress': a sandboxed command's API bodies are always decoded (its token is masked in them)");
  lua_pop(L, 1);
  lua_pushliteral(L, "headers");
  if (lua_rawget(L, sent) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TSTRING &&
          (strcasecmp(lua_tostring(L, -1), "Range") == 0 || strcasecmp(lua_tostring(L, -1), "If-Range") == 0))
        luaL_argerror(L, 1, "field 'headers': no Range for a sandboxed command's API requests (each piece could hold part of its token, unmasked)");
    }
  }
  lua_pop(L, 1);
}

/* nt3.sandbox.api_send(req): one request to the active API URL, req.path
 * under it, with the token added in C (gate.h); the response as nt3.http
 * gives it. For lua/nt3/sandbox/api.lua, the sandbox's nt3.api. */
static int api_send(lua_State *L) {
  static const char *const copied[] = {"method", "headers", "body", "timeout", "connect_timeout", "stall_timeout",
                                       "max_size", "retries", "max_retry_wait", "max_redirects", "output", "sink",
                                       NULL};
  struct sandbox *s = sandbox_of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  const char *method = lua_getfield(L, 1, "method") == LUA_TSTRING ? lua_tostring(L, -1) : "GET";
  const char *path = lua_getfield(L, 1, "path") == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  /* or a whole URL (a page's next link): the gate judges its origin too */
  const char *url = lua_getfield(L, 1, "url") == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  if (url ? path != NULL : (!path || path[0] != '/' || path[1] == '/'))
    return luaL_argerror(L, 1, "field 'path' must start with one / (or give 'url' instead)");
  char what[600];
  snprintf(what, sizeof what, "nt3.api %s %s", method, url ? url : path);
  /* the method and the origin are the gate's to judge, on every hop */
  if (!s->api_methods) return refuse(L, what, "api");
  if (!s->auth) {
    lua_pushnil(L);
    lua_pushliteral(L, "not logged in (run 'nt3 login')");
    lua_pushliteral(L, "not_logged_in");
    return 3;
  }
  lua_createtable(L, 0, 12);
  for (int i = 0; copied[i]; i++) {
    lua_getfield(L, 1, copied[i]);
    lua_setfield(L, -2, copied[i]);
  }
  whole_bodies_only(L, 1, lua_gettop(L));
  if (url) lua_pushstring(L, url);
  else lua_pushfstring(L, "%s%s", s->api_url, path);
  lua_setfield(L, -2, "url");
  lua_replace(L, 1);
  lua_settop(L, 1);
  struct nt3_api_auth a = {s->auth, s->token, s->cafile};
  return nt3_http_request_as(L, &a);
}

/* nt3.sandbox.api_core.url() -> the active API URL (no secret in it), or
 * nil, message, "not_logged_in": what a next link is resolved against */
static int api_url(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  if (!s->api_methods) return refuse(L, "nt3.api GET", "api");
  if (!s->auth) {
    lua_pushnil(L);
    lua_pushliteral(L, "not logged in (run 'nt3 login')");
    lua_pushliteral(L, "not_logged_in");
    return 3;
  }
  lua_pushstring(L, s->api_url);
  return 1;
}

static int open_api_core(lua_State *L) {
  static const luaL_Reg fns[] = {{"send", api_send}, {"url", api_url}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

/* --- files and require -------------------------------------------------------- */

/* rel names a file inside the command's directory: no "..", no absolute
 * path, no empty part */
static int plain_relative(const char *rel) {
  if (!rel[0] || rel[0] == '/') return 0;
  for (const char *p = rel; *p;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
    p += n + (e ? 1 : 0);
    if (e && !*p) return 0;
  }
  return 1;
}

/* Whether path's folder, its links resolved, is dir's or one beneath it,
 * and path is not a regular file with other hard links. A path that does
 * not exist passes: the read that follows names what is missing. */
static int inside_dir(const char *dir, const char *path) {
  char real_dir[PATH_MAX], parent[PATH_MAX], real_parent[PATH_MAX];
  if (!realpath(dir, real_dir)) return 1;
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash) return 1;
  *slash = '\0';
  if (!realpath(parent, real_parent)) return 1;
  size_t n = strlen(real_dir);
  if (strncmp(real_parent, real_dir, n) != 0 || (real_parent[n] != '\0' && real_parent[n] != '/')) return 0;
  struct stat st;
  return !(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1);
}

/* Pushes the text of the command's file rel, read through the descriptor
 * that passed the checks, or raises one line naming the file. */
static int read_file(lua_State *L, struct sandbox *s, const char *rel, const char **code) {
  char path[PATH_MAX];
  *code = "invalid";
  if (!plain_relative(rel)) return luaL_error(L, "%s: not a file of the command's directory", rel);
  if (s->have_files && !list_has(&s->file_names, rel)) {
    *code = "modified";
    snprintf(s->tampered, sizeof s->tampered, "%s/%s: not among the files the lock lists", s->dir, rel);
    return luaL_error(L, "%s", s->tampered);
  }
  snprintf(path, sizeof path, "%s/%s", s->dir, rel);
  /* the file really lies in the command's directory: no folder on the way
   * is a link out of it, and the file has no other name elsewhere */
  if (!inside_dir(s->dir, path)) {
    *code = "untrusted";
    return luaL_error(L, "%s: not a file of the command's directory (a link leads out of it, or it has other hard links)", path);
  }
  /* fs.read_trusted: the trust check, and no symbolic link (a link could
   * lead out of the command's directory) */
  lua_getfield(L, LUA_REGISTRYINDEX, READ_KEY);
  lua_pushstring(L, path);
  lua_pushinteger(L, FILE_MAX);
  lua_call(L, 2, 2);
  if (!lua_isstring(L, -2)) {
    *code = "untrusted";
    return luaL_error(L, "%s", lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  if (s->have_files) {
    /* the very bytes that are loaded are the ones hashed */
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    struct nt3_sha256 c;
    unsigned char digest[NT3_SHA256_SIZE];
    char hex[NT3_SHA256_HEX_SIZE];
    nt3_sha256_init(&c);
    nt3_sha256_update(&c, text, len);
    nt3_sha256_final(&c, digest);
    nt3_sha256_hex(digest, hex);
    int i = list_has(&s->file_names, rel);
    if (strcasecmp(hex, s->file_hashes.v[i - 1]) != 0) {
      *code = "modified";
      snprintf(s->tampered, sizeof s->tampered, "%s: modified since it was installed (its sha256 is not the lock's)", path);
      return luaL_error(L, "%s", s->tampered);
    }
  }
  return 1;
}

/* Loads the command's file rel as a text chunk (pushed). */
static void load_file(lua_State *L, struct sandbox *s, const char *rel, const char **code) {
  read_file(L, s, rel, code);
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  char chunkname[PATH_MAX + 2];
  snprintf(chunkname, sizeof chunkname, "@%s/%s", s->dir, rel);
  *code = "invalid";
  if (luaL_loadbufferx(L, text, len, chunkname, "t") != LUA_OK) lua_error(L);
  lua_remove(L, -2);
}

static int open_prompt(lua_State *L) {
  if (!sandbox_of(L)->prompt) return refuse(L, "nt3.prompt", "prompt");
  return luaopen_nt3_prompt(L);
}

/* --- fs ------------------------------------------------------------------------- */

#define READ_ROOTS "nt3.sandbox.read_roots"
#define WRITE_ROOTS "nt3.sandbox.write_roots"

/* path made absolute the way a grant's root is: "~/x" under the home, a
 * relative one under the current directory; into out, or -1 */
static int absolute(const char *path, char *out, size_t size) {
  char cwd[PATH_MAX];
  const char *home = nt3_home_dir();
  int n;
  if (path[0] == '/') n = snprintf(out, size, "%s", path);
  else if (strcmp(path, "~") == 0 || strncmp(path, "~/", 2) == 0) n = home ? snprintf(out, size, "%s%s", home, path + 1) : -1;
  else if (getcwd(cwd, sizeof cwd)) n = snprintf(out, size, "%s/%s", cwd, path);
  else n = -1;
  if (n < 0 || (size_t)n >= size) return -1;
  /* "x/." and "x/" name x */
  size_t len = strlen(out);
  while (len > 1 && (out[len - 1] == '/' || (len > 2 && out[len - 1] == '.' && out[len - 2] == '/'))) {
    out[--len] = '\0';
    if (out[len - 1] == '/' && len > 1) out[--len] = '\0';
  }
  return 0;
}

/* nt3's own directory: NT3_CONFIG_DIR when absolute, else ~/.nt3 */
static int config_dir(char *out, size_t size) {
  const char *c = getenv("NT3_CONFIG_DIR");
  const char *home = nt3_home_dir();
  int n;
  if (c && c[0] == '/') n = snprintf(out, size, "%s", c);
  else if (home) n = snprintf(out, size, "%s/.nt3", home);
  else return -1;
  return n > 0 && (size_t)n < size ? 0 : -1;
}

/* a is b, or lies inside it */
static int within(const char *a, const char *b) {
  size_t n = strlen(b);
  return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/'));
}

/* Opens each granted root of list (real path, held open through
 * nt3.beneath) into the registry table key of L. 0, or -1 with why. */
static int open_roots(lua_State *L, const struct list *list, const char *key, char *why, size_t size) {
  char cfg[PATH_MAX], cfg_real[PATH_MAX], abs[PATH_MAX], real[PATH_MAX];
  int have_cfg = config_dir(cfg, sizeof cfg) == 0;
  if (have_cfg && realpath(cfg, cfg_real)) snprintf(cfg, sizeof cfg, "%s", cfg_real);
  lua_newtable(L);
  for (int i = 0; i < list->n; i++) {
    if (absolute(list->v[i], abs, sizeof abs) != 0 || !realpath(abs, real))
      return bad(why, size, "fs root \"%s\": %s", list->v[i], strerror(errno ? errno : ENAMETOOLONG));
    /* nt3's own files are never granted: not the directory, not one in
     * it, not one that holds it */
    if (have_cfg && (within(real, cfg) || within(cfg, real)))
      return bad(why, size, "fs root \"%s\" is, holds or lies in nt3's own directory %s: never granted", list->v[i], cfg);
    /* nor /proc: every process's environment (NT3_API_TOKEN), memory and
     * command line are there */
    if (within(real, "/proc") || within("/proc", real))
      return bad(why, size, "fs root \"%s\" is, holds or lies in /proc, where processes' environments are: never granted", list->v[i]);
    lua_getfield(L, LUA_REGISTRYINDEX, "nt3.sandbox.beneath_root");
    lua_pushstring(L, real);
    lua_call(L, 1, 3);
    if (lua_isnil(L, -3)) return bad(why, size, "fs root \"%s\": %s", list->v[i], lua_tostring(L, -2));
    lua_pop(L, 2);
    lua_createtable(L, 0, 2);
    lua_insert(L, -2);
    lua_setfield(L, -2, "root");
    lua_pushstring(L, real);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, abs);
    lua_setfield(L, -2, "given");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, key);
  return 0;
}

/* Both lists of roots, protected (lua_pcall): a refusal's words into the
 * buffer given (600 bytes). */
static int open_all_roots(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  char *why = lua_touserdata(L, 1);
  if (open_roots(L, &s->fs_read, READ_ROOTS, why, 600) == 0) open_roots(L, &s->fs_write, WRITE_ROOTS, why, 600);
  return 0;
}

/* Finds the root of the registry list key that path lies under; pushes
 * the root and the path relative to it. 0, or -1 (nothing pushed). */
static int find_root(lua_State *L, const char *key, const char *path) {
  char abs[PATH_MAX];
  if (absolute(path, abs, sizeof abs) != 0) return -1;
  lua_getfield(L, LUA_REGISTRYINDEX, key);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    for (int f = 0; f < 2; f++) {
      lua_getfield(L, -1, f ? "given" : "path");
      const char *root = lua_tostring(L, -1);
      size_t len = strlen(root);
      int under = within(abs, root);
      lua_pop(L, 1);
      if (under) {
        lua_getfield(L, -1, "root");
        const char *rel = abs + len;
        while (*rel == '/') rel++;
        lua_pushstring(L, *rel ? rel : ".");
        lua_remove(L, -3);
        lua_remove(L, -3);
        return 0;
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return -1;
}

/* Calls root:<method>(rel, ...) for path under a root of key, or refuses. */
static int fs_call(lua_State *L, const char *method, const char *key, const char *perm) {
  const struct sandbox *s = sandbox_of(L);
  const char *path = luaL_checkstring(L, 1);
  char what[PATH_MAX + 40];
  snprintf(what, sizeof what, "fs %s %s", method, path);
  if (find_root(L, key, path) != 0) return refuse(L, what, perm);
  trace(s, "allowed", what);
  /* stack: path, extra..., root, rel -> method(root, rel, extra...) */
  int extra = lua_gettop(L) - 3;
  luaL_getmetafield(L, -2, "__index");
  lua_getfield(L, -1, method);
  lua_remove(L, -2);
  lua_insert(L, -3);
  for (int i = 0; i < extra; i++) lua_pushvalue(L, 2 + i);
  lua_call(L, 2 + extra, LUA_MULTRET);
  return lua_gettop(L) - 1 - extra;
}

/* fs.read(path[, max]), fs.dir(path), fs.stat(path): under a read root;
 * fs.write(path, data[, mode]): under a write root, atomically */
static int sfs_read(lua_State *L) { return fs_call(L, "read", READ_ROOTS, "fs.read"); }
static int sfs_dir(lua_State *L) { return fs_call(L, "dir", READ_ROOTS, "fs.read"); }
static int sfs_stat(lua_State *L) { return fs_call(L, "stat", READ_ROOTS, "fs.read"); }
static int sfs_sha256(lua_State *L) { return fs_call(L, "sha256", READ_ROOTS, "fs.read"); }
static int sfs_write(lua_State *L) { return fs_call(L, "write", WRITE_ROOTS, "fs.write"); }

/* The gate's output (gate.h): an output file of nt3.http or nt3.api,
 * under a write root and resolved beneath it, as fs.write resolves one
 * (nt3_parent_beneath; the engine then writes it with nt3_atomic_openat in
 * that directory, the second half of nt3_atomic_open_beneath). */
static int gate_output(lua_State *L, const struct nt3_http_gate *g, const char *path, int *dirfd,
                       char name[NAME_MAX + 1], char *why, size_t size) {
  const struct sandbox *s = (const struct sandbox *)g;
  char what[PATH_MAX + 40], shown[PATH_MAX];
  snprintf(what, sizeof what, "output %s", printable(shown, sizeof shown, path));
  if (find_root(L, WRITE_ROOTS, path) != 0) {
    snprintf(why, size, "permission denied: %s (not granted: fs.write)", what);
    return -1; /* raised, and traced, by gate_raise */
  }
  int root = nt3_beneath_root_fd(L, -2);
  int d = root < 0 ? -EBADF : nt3_parent_beneath(root, lua_tostring(L, -1), name, NT3_BENEATH_AUTO);
  lua_pop(L, 2);
  if (d < 0) {
    snprintf(why, size, "cannot write %s: %s", shown, nt3_beneath_words(-d));
    trace(s, "refused", what);
    return -d;
  }
  trace(s, "allowed", what);
  *dirfd = d;
  return 0;
}

static int open_fs(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"read", sfs_read}, {"dir", sfs_dir}, {"stat", sfs_stat}, {"sha256", sfs_sha256}, {"write", sfs_write}, {NULL, NULL},
  };
  luaL_newlib(L, fns);
  return 1;
}

/* The modules of nt3 a sandbox may require: C ones that are safe or check
 * their grant, and Lua ones (embedded, as untrusted there as the command). */
static const luaL_Reg c_modules[] = {
  {"nt3.policy", luaopen_nt3_policy}, {"nt3.http", luaopen_nt3_http},   {"cjson", luaopen_cjson},
  {"cjson.safe", luaopen_cjson_safe}, {"nt3.env", open_env},            {"nt3.proc", open_proc},
  {"nt3.prompt", open_prompt},        {"nt3.cli", open_cli},            {"nt3.fs", open_fs},
  {"nt3.sandbox.api_core", open_api_core}, {"nt3.sched", luaopen_nt3_sched},
  {"nt3.json.core", luaopen_nt3_json_core}, {NULL, NULL},
};

static const char *const lua_modules[] = {"nt3.task", "nt3.json", "nt3.json.text", "nt3.check", "nt3.api.common",
                                          "nt3.ui", NULL};

static int sb_require(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
  if (lua_getfield(L, 2, name) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  /* nt3.api is the sandbox's own (lua/nt3/sandbox/api.lua) */
  const char *embedded = strcmp(name, "nt3.api") == 0 ? "nt3.sandbox.api" : NULL;
  for (int i = 0; !embedded && lua_modules[i]; i++)
    if (strcmp(name, lua_modules[i]) == 0 || (strncmp(name, "nt3.task.", 9) == 0 && i == 0)) embedded = name;
  int found = 0;
  for (int i = 0; c_modules[i].name; i++)
    if (strcmp(name, c_modules[i].name) == 0) {
      lua_pushcfunction(L, c_modules[i].func);
      found = 1;
    }
  if (!found && embedded) {
    const struct nt3_module *m = nt3_find_module(embedded);
    if (!m) return luaL_error(L, "module '%s' not found", name);
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", m->file);
    if (luaL_loadbufferx(L, (const char *)m->code, m->size, chunk, "b") != LUA_OK) return lua_error(L);
    if (strcmp(name, "nt3.ui") == 0) {
      push_ui_env(L);
      lua_setupvalue(L, -2, 1); /* a main chunk's one upvalue is _ENV */
    }
    found = 1;
  }
  if (!found && strncmp(name, "nt3", 3) == 0 && (name[3] == '\0' || name[3] == '.'))
    return refuse(L, lua_pushfstring(L, "require \"%s\"", name), "any: not available in a sandbox");
  if (!found) {
    /* the command's own module: name.with.dots -> name/with/dots.lua */
    for (const char *p = name; *p; p++)
      if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9')))
        return luaL_error(L, "module '%s' not found (not a module name)", name);
    const char *rel = lua_pushfstring(L, "%s.lua", luaL_gsub(L, name, ".", "/"));
    const char *code;
    load_file(L, s, rel, &code);
  }
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, name);
  return 1;
}

/* --- the rest of the base library ---------------------------------------------- */

/* load(chunk[, name[, mode[, env]]]): text only, whatever mode says */
static int sb_load(lua_State *L) {
  if (lua_gettop(L) < 4) lua_settop(L, 3);
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* collectgarbage("count") only */
static int sb_collectgarbage(lua_State *L) {
  const char *opt = luaL_optstring(L, 1, "count");
  if (strcmp(opt, "count") != 0) return refuse(L, lua_pushfstring(L, "collectgarbage(\"%s\")", opt), "any: only \"count\"");
  int k = lua_gc(L, LUA_GCCOUNT, 0);
  int b = lua_gc(L, LUA_GCCOUNTB, 0);
  lua_pushnumber(L, (lua_Number)k + ((lua_Number)b / 1024));
  return 1;
}

/* setmetatable(t, mt): no __gc. Lua runs a finalizer with hooks off, so
 * neither Ctrl-C nor the end of the run could cut one short. */
static int sb_setmetatable(lua_State *L) {
  if (lua_istable(L, 2)) {
    lua_pushliteral(L, "__gc");
    int t = lua_rawget(L, 2);
    lua_pop(L, 1);
    if (t != LUA_TNIL) return refuse(L, "a __gc metamethod", "any: finalizers are not available in a sandbox");
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static void wrap_field(lua_State *L, const char *field, lua_CFunction f) {
  lua_getfield(L, -1, field);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, field);
}

/* Builds the sandbox's globals. Runs protected (the allocator may refuse). */
static int setup(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  static const luaL_Reg libs[] = {
    {LUA_GNAME, luaopen_base},         {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
    {LUA_STRLIBNAME, luaopen_string},  {LUA_MATHLIBNAME, luaopen_math},    {LUA_UTF8LIBNAME, luaopen_utf8},
    {NULL, NULL},
  };
  for (const luaL_Reg *l = libs; l->func; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  /* anchored, so raise_end pushes them without allocating */
  lua_pushliteral(L, INTERRUPTED);
  lua_setfield(L, LUA_REGISTRYINDEX, "nt3.sandbox.interrupted");
  lua_pushliteral(L, MEMORY_MSG);
  lua_setfield(L, LUA_REGISTRYINDEX, "nt3.sandbox.memory");
  new_error_mt(L, PERMISSION_MT);
  new_error_mt(L, FAILURE_MT);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
  lua_pushlightuserdata(L, &s->gate);
  lua_setfield(L, LUA_REGISTRYINDEX, NT3_HTTP_GATE);
  lua_pushlightuserdata(L, s->child_env);
  lua_setfield(L, LUA_REGISTRYINDEX, NT3_PROC_ENVIRON);
  /* C functions the sandbox's own are built on, kept where Lua cannot
   * reach them (there is no debug.getregistry) */
  luaopen_nt3_fs(L);
  lua_getfield(L, -1, "read_trusted");
  lua_setfield(L, LUA_REGISTRYINDEX, READ_KEY);
  lua_pop(L, 1);
  luaopen_nt3_beneath(L);
  lua_getfield(L, -1, "root");
  lua_setfield(L, LUA_REGISTRYINDEX, "nt3.sandbox.beneath_root");
  lua_pop(L, 1);
  luaopen_nt3_proc(L);
  lua_getfield(L, -1, "run");
  lua_setfield(L, LUA_REGISTRYINDEX, PROC_KEY);
  lua_pop(L, 1);

  lua_pushglobaltable(L);
  static const char *const removed[] = {"dofile", "loadfile", NULL};
  for (int i = 0; removed[i]; i++) {
    lua_pushnil(L);
    lua_setfield(L, -2, removed[i]);
  }
  wrap_field(L, "load", sb_load);
  wrap_field(L, "setmetatable", sb_setmetatable);
  lua_pushcfunction(L, sb_pcall);
  lua_setfield(L, -2, "pcall");
  lua_pushcfunction(L, sb_xpcall);
  lua_setfield(L, -2, "xpcall");
  lua_pushcfunction(L, sb_collectgarbage);
  lua_setfield(L, -2, "collectgarbage");
  lua_pushcfunction(L, sb_print);
  lua_setfield(L, -2, "print");
  lua_pushcfunction(L, sb_require);
  lua_setfield(L, -2, "require");
  lua_getfield(L, -1, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_getfield(L, -1, LUA_COLIBNAME);
  wrap_field(L, "resume", sb_catcher);
  wrap_field(L, "close", sb_catcher);
  wrap_field(L, "create", sb_create);
  wrap_field(L, "wrap", sb_create);
  lua_pop(L, 1);
  /* os: time, clock, date and difftime only */
  luaopen_os(L);
  lua_createtable(L, 0, 4);
  static const char *const os_kept[] = {"time", "clock", "date", "difftime", NULL};
  for (int i = 0; os_kept[i]; i++) {
    lua_getfield(L, -2, os_kept[i]);
    lua_setfield(L, -2, os_kept[i]);
  }
  lua_setfield(L, -3, "os");
  lua_pop(L, 2);
  return 0;
}

/* --- the sandbox's life ----------------------------------------------------------- */

static void sandbox_free(struct sandbox *s) {
  /* a finalizer that never ends would keep nt3 from exiting */
  s->closing = 1;
  if (s->L) lua_close(s->L);
  s->L = NULL;
  if (s->token) explicit_bzero(s->token, strlen(s->token));
  if (s->auth) explicit_bzero(s->auth, strlen(s->auth));
  free(s->token);
  free(s->auth);
  free(s->api_url);
  free(s->cafile);
  free(s->dir);
  list_free(&s->http);
  list_free(&s->env);
  list_free(&s->proc);
  list_free(&s->fs_read);
  list_free(&s->fs_write);
  list_free(&s->file_names);
  list_free(&s->file_hashes);
  if (s->child_env)
    for (char **e = s->child_env; *e; e++) free(*e);
  free(s->child_env);
  free(s);
}

/* The environment of the programs it runs: the granted variables only. */
static int build_child_env(struct sandbox *s) {
  s->child_env = calloc((size_t)s->env.n + 1, sizeof *s->child_env);
  if (!s->child_env) return -1;
  int k = 0;
  for (int i = 0; i < s->env.n; i++) {
    const char *v = getenv(s->env.v[i]);
    if (!v) continue;
    size_t n = strlen(s->env.v[i]) + strlen(v) + 2;
    if (!(s->child_env[k] = malloc(n))) return -1;
    snprintf(s->child_env[k++], n, "%s=%s", s->env.v[i], v);
  }
  return 0;
}

static int host_fail(lua_State *H, const char *message, const char *code) {
  lua_pushnil(H);
  lua_pushstring(H, message);
  lua_pushstring(H, code);
  return 3;
}

/* A string field of the host's argument table, or NULL. */
static const char *arg_string(lua_State *H, int idx, const char *key) {
  lua_getfield(H, idx, key);
  const char *v = lua_tostring(H, -1);
  lua_pop(H, 1); /* the table keeps it */
  return v;
}

/* A new sandbox for dir (NULL with the failure pushed on H). */
static struct sandbox *sandbox_new(lua_State *H, int args) {
  struct sandbox *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->gate.allow = gate_allow;
  s->gate.raise = gate_raise;
  s->gate.output = gate_output;
  s->cap = DEFAULT_MEMORY;
  s->out_tty = isatty(1);
  s->err_tty = isatty(2);
  s->trace = nt3_debug_enabled();
  const char *dir = arg_string(H, args, "dir");
  if (!dir || dir[0] != '/') {
    sandbox_free(s);
    host_fail(H, "sandbox: 'dir' must be an absolute path", "invalid");
    return NULL;
  }
  s->dir = strdup(dir);
  if (lua_getfield(H, args, "files") == LUA_TTABLE) {
    s->have_files = 1;
    lua_pushnil(H);
    while (lua_next(H, -2)) {
      if (lua_type(H, -2) == LUA_TSTRING && lua_type(H, -1) == LUA_TSTRING) {
        list_add(&s->file_names, lua_tostring(H, -2));
        list_add(&s->file_hashes, lua_tostring(H, -1));
      }
      lua_pop(H, 1);
    }
  }
  lua_pop(H, 1);
  return s;
}

static int start_state(lua_State *H, struct sandbox *s) {
  if (!s->child_env && build_child_env(s) != 0) return host_fail(H, "not enough memory", "memory");
  s->L = lua_newstate(sb_alloc, s);
  if (!s->L) return host_fail(H, "not enough memory", "memory");
  lua_State *L = s->L;
  lua_gc(L, LUA_GCINC, NT3_GC_PAUSE, 0, 0);
  arm(L);
  lua_pushcfunction(L, setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) return host_fail(H, "cannot make a sandbox: not enough memory", "memory");
  return 0;
}

/* Ctrl-C, while a sandbox runs: sets `interrupted` (unless ignored). */
struct sigint_saved {
  struct sigaction old;
  int taken;
};

static void take_sigint(struct sigint_saved *saved) {
  interrupted = 0;
  saved->taken = 0;
  struct sigaction sa;
  if (sigaction(SIGINT, NULL, &sa) < 0 || (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN)) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  /* a second Ctrl-C ends the process at once */
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  if (sigaction(SIGINT, &sa, &saved->old) == 0) saved->taken = 1;
}

static void give_sigint(struct sigint_saved *saved) {
  if (saved->taken) sigaction(SIGINT, &saved->old, NULL);
  saved->taken = 0;
}

/* The message handler of a run: the message, with a traceback under
 * NT3_DEBUG (read by C; no debug library in the sandbox). */
static int on_error(lua_State *L) {
  const struct sandbox *s = sandbox_of(L);
  if (s->trace && lua_type(L, 1) == LUA_TSTRING && !ending(s)) luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/* Pushes on H the failure the error at the top of L is: nil, message,
 * code, exit code. */
static int host_error(lua_State *H, struct sandbox *s, const char *code) {
  lua_State *L = s->L;
  char msg[PATH_MAX + 200];
  lua_Integer exit = 1;
  if (s->tampered[0]) {
    /* a file that is not the lock's ends the run, whatever caught it */
    code = "modified";
    snprintf(msg, sizeof msg, "%s", s->tampered);
  } else if (interrupted) {
    code = "interrupted";
    exit = 130;
    snprintf(msg, sizeof msg, "interrupted");
  } else if (s->doomed) {
    code = "memory";
    snprintf(msg, sizeof msg, "out of memory: the sandbox's limit is %zu MiB (a command may ask for more: permissions.memory)",
             s->cap >> 20);
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1));
  } else if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getmetatable(L, -1);
    luaL_getmetatable(L, FAILURE_MT);
    int is_failure = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    lua_pushliteral(L, "message");
    lua_rawget(L, -2);
    snprintf(msg, sizeof msg, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is a table value)");
    lua_pop(L, 1);
    if (is_failure) {
      lua_pushliteral(L, "code");
      lua_rawget(L, -2);
      exit = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 1;
      if (exit < 0 || exit > 255) exit = 1;
      lua_pop(L, 1);
      code = exit == 2 ? "usage" : "failure";
    } else {
      lua_pushliteral(L, "kind");
      lua_rawget(L, -2);
      if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "permission") == 0) code = "permission";
      lua_pop(L, 1);
    }
  } else {
    snprintf(msg, sizeof msg, "(error object is a %s value)", luaL_typename(L, -1));
  }
  lua_pushnil(H);
  lua_pushstring(H, msg);
  lua_pushstring(H, code);
  lua_pushinteger(H, exit);
  return 4;
}

static int do_load(lua_State *L) {
  struct sandbox *s = sandbox_of(L);
  const char *file = lua_touserdata(L, 1);
  const char **code = lua_touserdata(L, 2);
  load_file(L, s, file, code);
  *code = "failure";
  lua_call(L, 0, 1);
  *code = "invalid";
  if (!lua_istable(L, -1)) return luaL_error(L, "%s/%s: a command must return a table", s->dir, file);
  return 1;
}

/* Copies the plain data at idx of `from` onto `to`: no functions, threads
 * or userdata; depth and size bounded. */
static void copy_value(lua_State *from, int idx, lua_State *to, int depth, int *items) {
  idx = lua_absindex(from, idx);
  luaL_checkstack(to, 4, NULL);
  luaL_checkstack(from, 4, NULL);
  switch (lua_type(from, idx)) {
  case LUA_TBOOLEAN: lua_pushboolean(to, lua_toboolean(from, idx)); break;
  case LUA_TNUMBER:
    if (lua_isinteger(from, idx)) lua_pushinteger(to, lua_tointeger(from, idx));
    else lua_pushnumber(to, lua_tonumber(from, idx));
    break;
  case LUA_TSTRING: {
    size_t n;
    const char *v = lua_tolstring(from, idx, &n);
    lua_pushlstring(to, v, n);
    break;
  }
  case LUA_TTABLE:
    lua_newtable(to);
    if (depth >= MAX_COPY_DEPTH) break;
    lua_pushnil(from);
    while (lua_next(from, idx)) {
      int kt = lua_type(from, -2), vt = lua_type(from, -1);
      if ((kt == LUA_TSTRING || kt == LUA_TNUMBER) &&
          (vt == LUA_TSTRING || vt == LUA_TNUMBER || vt == LUA_TBOOLEAN || vt == LUA_TTABLE) && ++*items < MAX_COPY_ITEMS) {
        copy_value(from, -2, to, depth + 1, items);
        copy_value(from, -1, to, depth + 1, items);
        lua_rawset(to, -3);
      }
      lua_pop(from, 1);
    }
    break;
  default: lua_pushnil(to); break;
  }
}

/* Loads the command in s (a new state); 0 with its table on top of s->L,
 * else the failure pushed on H and its count returned. */
static int load_in(lua_State *H, struct sandbox *s, const char *file) {
  if (!s->L) {
    int r = start_state(H, s);
    if (r) return r;
  }
  lua_State *L = s->L;
  const char *code = "invalid";
  lua_pushcfunction(L, on_error);
  lua_pushcfunction(L, do_load);
  lua_pushlightuserdata(L, (void *)file);
  lua_pushlightuserdata(L, (void *)&code);
  if (lua_pcall(L, 2, 1, -4) != LUA_OK) return host_error(H, s, code);
  lua_remove(L, -2);
  return 0;
}

/* sandbox.describe{ dir =, file =, files = } -> plain copy | nil, message, code */
static int sandbox_describe(lua_State *H) {
  luaL_checktype(H, 1, LUA_TTABLE);
  const char *file = arg_string(H, 1, "file");
  if (!file) return host_fail(H, "sandbox.describe: 'file' is required", "invalid");
  struct sandbox *s = sandbox_new(H, 1);
  if (!s) return 3;
  snprintf(s->name, sizeof s->name, "%s", file);
  struct sigint_saved saved;
  take_sigint(&saved);
  int r = load_in(H, s, file);
  give_sigint(&saved);
  if (r) {
    sandbox_free(s);
    return r;
  }
  /* From here on nothing of the command's runs: its table is read raw
   * (no __index of its could raise or loop with Ctrl-C given back), and
   * the permissions checked are those of the plain copy, the ones a run
   * is given. */
  lua_State *L = s->L;
  int items = 0;
  copy_value(L, -1, H, 0, &items);
  lua_pushliteral(L, "run");
  lua_pushboolean(H, lua_rawget(L, -2) == LUA_TFUNCTION);
  lua_setfield(H, -2, "has_run");
  lua_pop(L, 1);
  if (lua_getfield(H, -1, "permissions") == LUA_TNIL) {
    lua_pop(H, 1);
  } else {
    char why[600];
    int bad_grants = parse_grants(H, -1, NULL, why, sizeof why);
    lua_pop(H, 1);
    if (bad_grants != 0) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%s/%s: %s", s->dir, file, why);
      sandbox_free(s);
      return host_fail(H, msg, "invalid");
    }
  }
  sandbox_free(s);
  return 1;
}

/* The API origin ("scheme://host:port") of an API URL into s. */
static int set_api(struct sandbox *s, const char *url, const char *token, const char *cafile) {
  const char *rest = strstr(url, "://");
  if (!rest) return -1;
  const char *slash = strchr(rest + 3, '/');
  size_t n = slash ? (size_t)(slash - url) : strlen(url);
  char origin[400];
  if (n >= sizeof origin) return -1;
  memcpy(origin, url, n);
  origin[n] = '\0';
  if (nt3_canonical_origin(origin, s->api_origin, sizeof s->api_origin) != 0) return -1;
  s->api_url = strdup(url);
  if (!s->api_url) return -1;
  size_t len = strlen(s->api_url);
  while (len > 0 && s->api_url[len - 1] == '/') s->api_url[--len] = '\0';
  s->token = strdup(token);
  size_t alen = strlen(token) + sizeof "Authorization: Bearer ";
  s->auth = malloc(alen);
  if (!s->token || !s->auth) return -1;
  snprintf(s->auth, alen, "Authorization: Bearer %s", token);
  if (cafile && !(s->cafile = strdup(cafile))) return -1;
  return 0;
}

/* Whether the command table at cmd says format = true (read raw: no
 * metamethod of the command's runs here). */
static int returns_rows(lua_State *L, int cmd) {
  lua_pushliteral(L, "format");
  lua_rawget(L, cmd);
  int yes = lua_isboolean(L, -1) && lua_toboolean(L, -1);
  lua_pop(L, 1);
  return yes;
}

/* The rows a command with format = true returned (on top of L), as JSON
 * text encoded inside the sandbox, under its memory cap: { json = text } on
 * H, which nt3.cli decodes and writes with --format (docs/architecture.md,
 * "Output formats"). JSON keeps null and empty lists, which a copy of the
 * plain data would lose. */
static int rows_to_host(lua_State *H, struct sandbox *s, int handler) {
  lua_State *L = s->L;
  int rows = lua_gettop(L);
  lua_pushcfunction(L, sb_require);
  lua_pushliteral(L, "nt3.json");
  int status = lua_pcall(L, 1, 1, handler);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "encode");
    lua_pushvalue(L, rows);
    status = lua_pcall(L, 1, 2, handler);
  }
  if (status != LUA_OK || ending(s)) return host_error(H, s, "failure");
  if (lua_type(L, -2) != LUA_TSTRING) {
    char msg[400];
    snprintf(msg, sizeof msg, "command '%s' returned rows that cannot be written as JSON: %s", s->name,
             lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "not a table of plain data");
    return host_fail(H, msg, "failure");
  }
  size_t n;
  const char *text = lua_tolstring(L, -2, &n);
  lua_createtable(H, 0, 1);
  lua_pushlstring(H, text, n);
  lua_setfield(H, -2, "json");
  return 1;
}

/* sandbox.run{ ... } -> exit code | { json = rows } | nil, message, code, exit code */
static int sandbox_run(lua_State *H) {
  luaL_checktype(H, 1, LUA_TTABLE);
  const char *file = arg_string(H, 1, "file");
  if (!file) return host_fail(H, "sandbox.run: 'file' is required", "invalid");
  struct sandbox *s = sandbox_new(H, 1);
  if (!s) return 3;
  const char *name = arg_string(H, 1, "name");
  snprintf(s->name, sizeof s->name, "%s", name ? name : file);
  lua_getfield(H, 1, "trace");
  if (lua_toboolean(H, -1)) s->trace = 1;
  lua_getfield(H, 1, "progress");
  s->progress = lua_toboolean(H, -1);
  lua_pop(H, 2);
  char why[600];
  lua_getfield(H, 1, "permissions");
  int bad_grants = parse_grants(H, -1, s, why, sizeof why);
  lua_pop(H, 1);
  if (bad_grants) {
    sandbox_free(s);
    return host_fail(H, why, "invalid");
  }
  if (s->api_methods && lua_getfield(H, 1, "api") == LUA_TTABLE) {
    const char *url = arg_string(H, -1, "url"), *token = arg_string(H, -1, "token");
    const char *cafile = arg_string(H, -1, "cafile");
    if (url && token && set_api(s, url, token, cafile) != 0) {
      lua_pop(H, 1);
      sandbox_free(s);
      return host_fail(H, "sandbox.run: 'api.url' is not a URL", "invalid");
    }
  }
  if (s->api_methods) lua_pop(H, 1);
  int r = start_state(H, s);
  if (r) {
    sandbox_free(s);
    return r;
  }
  why[0] = '\0';
  lua_pushcfunction(s->L, open_all_roots);
  lua_pushlightuserdata(s->L, why);
  if (lua_pcall(s->L, 1, 0, 0) != LUA_OK || why[0]) {
    if (!why[0]) snprintf(why, sizeof why, "%s", "cannot open the fs roots: not enough memory");
    sandbox_free(s);
    return host_fail(H, why, "invalid");
  }
  struct sigint_saved saved;
  take_sigint(&saved);
  r = load_in(H, s, file);
  if (r) {
    give_sigint(&saved);
    sandbox_free(s);
    return r;
  }
  lua_State *L = s->L;
  int cmd = lua_gettop(L);
  /* task.run(cmd.run, opts, ctx), protected, with the message handler */
  lua_pushcfunction(L, on_error);
  int handler = lua_gettop(L);
  lua_pushcfunction(L, sb_require);
  lua_pushliteral(L, "nt3.task");
  int status = lua_pcall(L, 1, 1, handler);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "run");
    lua_remove(L, -2);
    lua_getfield(L, cmd, "run");
    int items = 0;
    lua_getfield(H, 1, "opts");
    copy_value(H, -1, L, 0, &items);
    lua_pop(H, 1);
    lua_createtable(L, 0, 4); /* ctx */
    lua_pushstring(L, s->name);
    lua_setfield(L, -2, "name");
    lua_getfield(H, 1, "args");
    copy_value(H, -1, L, 0, &items);
    lua_pop(H, 1);
    lua_setfield(L, -2, "args");
    lua_pushvalue(L, cmd);
    lua_setfield(L, -2, "command");
    lua_pushcfunction(L, sb_require);
    lua_pushliteral(L, "nt3.cli");
    lua_call(L, 1, 1);
    lua_setfield(L, -2, "cli");
    status = lua_pcall(L, 3, 1, handler);
  }
  int n;
  if (status != LUA_OK || ending(s)) {
    n = host_error(H, s, "failure");
  } else if (lua_isnoneornil(L, -1) || (lua_isboolean(L, -1) && lua_toboolean(L, -1))) {
    lua_pushinteger(H, 0);
    n = 1;
  } else if (lua_isboolean(L, -1)) {
    lua_pushinteger(H, 1);
    n = 1;
  } else if (lua_isinteger(L, -1)) {
    lua_pushinteger(H, lua_tointeger(L, -1));
    n = 1;
  } else if (lua_istable(L, -1) && returns_rows(L, cmd)) {
    n = rows_to_host(H, s, handler);
  } else {
    char msg[200];
    snprintf(msg, sizeof msg, "command '%s' returned %s instead of an exit code", s->name, luaL_typename(L, -1));
    n = host_fail(H, msg, "failure");
  }
  fflush(stdout);
  if (s->bar_drawn) draw_bar(s, 0); /* a bar the command left shown */
  give_sigint(&saved);
  sandbox_free(s);
  return n;
}

/* sandbox.check_permissions(table) -> true | nil, message, "invalid" */
static int sandbox_check(lua_State *H) {
  char why[600];
  if (parse_grants(H, 1, NULL, why, sizeof why) != 0) return host_fail(H, why, "invalid");
  lua_pushboolean(H, 1);
  return 1;
}

int luaopen_nt3_sandbox(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"describe", sandbox_describe},
    {"run", sandbox_run},
    {"check_permissions", sandbox_check},
    {NULL, NULL},
  };
  luaL_newlib(L, fns);
  return 1;
}
