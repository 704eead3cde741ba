/*
 * nt3.proc: run one program and read what it prints, for credential
 * commands (a keyring, a password manager) that hand nt3 a token.
 *
 * What it will not do is the point: no shell, no PATH search (the program
 * is an absolute path), nothing inherited but the environment, less
 * NT3_API_TOKEN (stdin is /dev/null, every descriptor above stderr is
 * closed), a bounded run time and bounded output. No system(), no popen().
 *
 * The child leads a process group of its own, and nt3 ends that whole
 * group: at the time limit, when the output outgrows its bound, and when
 * nt3 is interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT) -- a program that
 * ignores SIGINT, or a grandchild it left behind, does not outlive nt3.
 * Ending is SIGTERM, then SIGKILL after a grace period, and nt3 waits for
 * the child. Under `nt3 run` the script's Ctrl-C handler notes the signal
 * (nt3_interrupt_pending) and Lua raises "interrupted" once proc.run
 * returns; a signal still at its default action is caught only while the
 * child runs, then raised again with the default back, so it ends nt3 as
 * it would have.
 *
 * All arguments are checked and the output buffer is allocated before the
 * first pipe is made. The pipes are watched by the one wait (src/sched.c,
 * docs/architecture.md, "Waiting"): inside a task proc.run yields while
 * the child runs, and the run is a userdata whose __gc ends the child's
 * group and reaps it should the task never be resumed; a cancel ends the
 * group at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "policy.h"
#include "gate.h"
#include "runtime.h"
#include "sched.h"

#define TIMEOUT_DEFAULT 30.0
#define TIMEOUT_MAX 86400.0
#define OUTPUT_DEFAULT (64 * 1024)
#define OUTPUT_MAX (16 * 1024 * 1024)
#define STDERR_KEEP 4096
#define ARGS_MAX 256
#define GRACE 2.0 /* seconds between SIGTERM and SIGKILL */
#define TIMEOUT_CODE 124 /* the code of a run the timeout ended, as timeout(1) */

extern char **environ;

struct run {
  struct nt3_watch w;    /* first: the one wait watches the pipes */
  pid_t pid;
  int out, err;          /* read ends; -1 once closed */
  char *buf;             /* stdout, max_output + 1 bytes */
  size_t len, max;
  char errbuf[STDERR_KEEP];
  size_t errlen;
  int status;            /* from waitpid, once reaped */
  int reaped, timed_out, overflow;
  int interrupted;       /* the signal that cut the run short, or 0 */
  int started, finished, holds_signals;
  double deadline;
};

/* Signals that end nt3 and so, first, the child's group. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NSTOP (sizeof stop_signals / sizeof stop_signals[0])

/*
 * The only global mutable state, as a signal handler needs it: the stop
 * signal that arrived while a child ran and its default action was ours to
 * replace. Cleared before the handler is installed.
 */
static volatile sig_atomic_t got_signal;

static void on_stop(int sig) { got_signal = sig; }

/* For each stop signal still at its default action: catch it (no
 * SA_RESTART, so a wait is cut short). taken[i] says which were. */
static void take_signals(struct sigaction *old, int *taken) {
  got_signal = 0;
  for (size_t i = 0; i < NSTOP; i++) {
    taken[i] = 0;
    if (sigaction(stop_signals[i], NULL, &old[i]) < 0) continue;
    if ((old[i].sa_flags & SA_SIGINFO) || old[i].sa_handler != SIG_DFL) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    taken[i] = sigaction(stop_signals[i], &sa, NULL) == 0;
  }
}

/* Puts the default actions back, and raises a signal that came meanwhile:
 * it ends nt3, as it would have had the child not been running. */
static void give_signals(const struct sigaction *old, const int *taken) {
  for (size_t i = 0; i < NSTOP; i++)
    if (taken[i]) sigaction(stop_signals[i], &old[i], NULL);
  int sig = got_signal;
  got_signal = 0;
  if (sig) raise(sig);
}

/* Children run side by side in tasks: the stop signals are taken while the
 * first one runs and given back when the last one is done. Process-wide,
 * as signal actions are. */
static int signal_users;
static struct sigaction held_old[NSTOP];
static int held_taken[NSTOP];

static void hold_signals(struct run *r) {
  if (r->holds_signals) return;
  r->holds_signals = 1;
  if (signal_users++ == 0) take_signals(held_old, held_taken);
}

static void release_signals(struct run *r) {
  if (!r->holds_signals) return;
  r->holds_signals = 0;
  if (--signal_users == 0) give_signals(held_old, held_taken);
}

/* --- arguments --------------------------------------------------------------- */

/* argv as a NULL-terminated array of the table's strings (kept alive by
 * the table, which stays on the stack) */
static const char **check_argv(lua_State *L, int arg) {
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_Integer n = luaL_len(L, arg);
  luaL_argcheck(L, n >= 1, arg, "argv must hold at least the program");
  luaL_argcheck(L, n <= ARGS_MAX, arg, "argv has too many arguments");
  const char **argv = lua_newuserdatauv(L, sizeof *argv * (size_t)(n + 1), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    size_t len;
    if (lua_geti(L, arg, i) != LUA_TSTRING) luaL_argerror(L, arg, "argv must be a list of strings");
    const char *s = lua_tolstring(L, -1, &len);
    luaL_argcheck(L, strlen(s) == len, arg, "an argument contains a zero byte");
    argv[i - 1] = s;
    lua_pop(L, 1);
  }
  argv[n] = NULL;
  /* no PATH search: "secret-tool" would run whatever a directory early in
   * PATH holds under that name */
  luaL_argcheck(L, argv[0][0] == '/', arg, "the program must be an absolute path");
  return argv;
}

static lua_Number opt_number(lua_State *L, int arg, const char *key, lua_Number def) {
  if (lua_isnoneornil(L, arg)) return def;
  lua_Number v = def;
  if (lua_getfield(L, arg, key) != LUA_TNIL) {
    if (!lua_isnumber(L, -1)) luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must be a number", key));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* --- the child ----------------------------------------------------------------- */

/* A descriptor at 0, 1 or 2 (nt3 started with one closed) would be
 * overwritten by the child's own dup2 before it was copied. */
static int above_stdio(int fd) {
  if (fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

/* Closes every descriptor from low up, but keep. Where close_range fails
 * (ENOSYS: a kernel older than 5.9, or a seccomp filter), one close per
 * descriptor up to the limit the parent read (`limit`). */
static void close_from(int low, int keep, int limit) {
  int ok = 1;
  if (keep > low && close_range((unsigned)low, (unsigned)keep - 1, 0) < 0) ok = 0;
  if (ok && close_range((unsigned)(keep >= low ? keep + 1 : low), ~0U, 0) == 0) return;
  for (int fd = low; fd < limit; fd++)
    if (fd != keep) close(fd);
}

/* The highest descriptor number the child could hold, plus one. */
static int fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)1 << 20)
    return 1 << 20;
  return (int)rl.rlim_cur;
}

/* Whether the entry "NAME=value" is for a variable the table at idx
 * names (a key of opts.env): replaced or unset there. */
static int named_in(lua_State *L, int idx, const char *entry) {
  if (!idx) return 0;
  const char *eq = strchr(entry, '=');
  if (!eq) return 0;
  lua_pushlstring(L, entry, (size_t)(eq - entry));
  int t = lua_rawget(L, idx);
  lua_pop(L, 1);
  return t != LUA_TNIL;
}

/* Whether L is a sandbox's state: its children get only what the sandbox
 * grants (docs/sandbox.md, "proc"). */
static int sandboxed(lua_State *L) {
  int t = lua_getfield(L, LUA_REGISTRYINDEX, NT3_PROC_ENVIRON);
  lua_pop(L, 1);
  return t == LUA_TLIGHTUSERDATA;
}

/* The one line a sandboxed command gets for an option it may not use, the
 * same whatever its value (docs/lua-api.md, proc.run): luaL_argerror would
 * name the function '?', called as it is from the sandbox's gate. */
static int refused_in_sandbox(lua_State *L, const char *field) {
  return luaL_error(L, "proc.run: opts.%s is not available in the sandbox", field);
}

/* environ less NT3_API_TOKEN, in a block of Lua's (on the stack): a
 * keyring helper has no business with the token the user set for nt3, and
 * a program that logs its environment would write it down. With opts.env
 * (at index envarg, or 0): each NAME = "value" is set, each NAME = false
 * unset. The "NAME=value" strings live in a table left on the stack. */
static char **child_environ(lua_State *L, int envarg) {
  static const char drop[] = "NT3_API_TOKEN=";
  /* a sandbox's child gets only the variables its env grant names, and
   * the sandbox sets none of its own (LD_PRELOAD would run a library) */
  if (sandboxed(L)) {
    if (envarg) refused_in_sandbox(L, "env");
    lua_getfield(L, LUA_REGISTRYINDEX, NT3_PROC_ENVIRON);
    char **granted = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return granted;
  }
  size_t n = 0, extra = 0;
  while (environ[n]) n++;
  if (envarg) {
    lua_pushnil(L);
    while (lua_next(L, envarg)) {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_argerror(L, 2, "field 'env' must map names to strings or false");
      size_t klen;
      const char *k = lua_tolstring(L, -2, &klen);
      if (klen == 0 || strlen(k) != klen || strchr(k, '='))
        luaL_argerror(L, 2, "field 'env' has a name that is empty or holds '=' or a zero byte");
      if (lua_type(L, -1) == LUA_TSTRING) {
        size_t vlen;
        const char *v = lua_tolstring(L, -1, &vlen);
        if (strlen(v) != vlen) luaL_argerror(L, 2, "field 'env' has a value with a zero byte");
        extra++;
      } else if (!(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        luaL_argerror(L, 2, "field 'env' must map names to strings or false");
      }
      lua_pop(L, 1);
    }
  }
  char **env = lua_newuserdatauv(L, sizeof *env * (n + extra + 1), 1);
  lua_createtable(L, (int)extra, 0); /* the new entries, kept by the block */
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], drop, sizeof drop - 1) != 0 && !named_in(L, envarg, environ[i])) env[k++] = environ[i];
  if (envarg) {
    lua_Integer m = 0;
    lua_pushnil(L);
    while (lua_next(L, envarg)) {
      if (lua_type(L, -1) == LUA_TSTRING) {
        const char *entry = lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        lua_rawseti(L, -4, ++m);
        env[k++] = (char *)entry;
      }
      lua_pop(L, 1);
    }
  }
  lua_setiuservalue(L, -2, 1);
  env[k] = NULL;
  return env;
}

/* After fork: async-signal-safe calls only. The exec status pipe is
 * close-on-exec, so the parent reads 0 bytes when execve worked, errno
 * when it did not, or -errno when chdir(cwd) failed (cwd: NULL to stay in
 * nt3's working directory; a relative one is taken from there). */
static void child(const char **argv, char **env, const char *cwd, int limit, int out_w, int err_w, int status_w) {
  /* a group of its own, which nt3 can end whole; the parent sets it too,
   * whichever runs first */
  setpgid(0, 0);
  if (cwd && chdir(cwd) < 0) {
    int e = -errno;
    ssize_t w = write(status_w, &e, sizeof e);
    (void)w;
    _exit(127);
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) goto fail;
  close_from(3, status_w, limit);
  /* an ignored SIGPIPE or a blocked signal would survive execve (a caught
   * one does not: execve puts its default back) */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(argv[0], (char *const *)argv, env);
fail:;
  int e = errno;
  ssize_t w = write(status_w, &e, sizeof e);
  (void)w;
  _exit(127);
}

/* --- the parent ---------------------------------------------------------------- */

/* Reads what fd has; returns 0 at end of file (fd closed), 1 otherwise. */
static int drain(struct run *r, int *fd, int is_out) {
  char tmp[4096];
  ssize_t n = read(*fd, tmp, sizeof tmp);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) {
    close(*fd);
    *fd = -1;
    return 0;
  }
  if (is_out) {
    size_t room = r->max + 1 - r->len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(r->buf + r->len, tmp, take);
    r->len += take;
    if (r->len > r->max) r->overflow = 1;
  } else {
    size_t room = STDERR_KEEP - r->errlen;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(r->errbuf + r->errlen, tmp, take);
    r->errlen += take;
  }
  return 1;
}

static void try_reap(struct run *r) {
  if (r->reaped) return;
  pid_t p = waitpid(r->pid, &r->status, WNOHANG);
  if (p == r->pid) r->reaped = 1;
}

/* After each poll of the one wait: reads what the pipes hold, and says
 * done once the child is gone and nothing is left to read, the deadline
 * passes, stdout outgrows its bound or a stop signal came. A grandchild
 * that keeps a pipe open does not hold nt3 up once the child itself has
 * exited: the child is looked at every 100 ms to notice that. */
static void proc_step(struct nt3_watch *w, double t) {
  struct run *r = (struct run *)w;
  int was_reaped = r->reaped, any = 0;
  for (int i = 0; i < 2; i++) {
    if (w->fds[i] < 0 || !w->revents[i]) continue;
    any = 1;
    int *fd = i == 0 ? &r->out : &r->err;
    drain(r, fd, i == 0);
    w->fds[i] = *fd;
    if (r->overflow) {
      w->done = 1;
      return;
    }
  }
  /* exited before this poll, and what it wrote has been read */
  if (was_reaped && (!any || (r->out < 0 && r->err < 0))) {
    w->done = 1;
    return;
  }
  try_reap(r);
  int sig = got_signal ? got_signal : nt3_interrupt_pending() ? SIGINT : 0;
  if (sig && !r->reaped) {
    r->interrupted = sig;
    w->done = 1;
    return;
  }
  if (!r->reaped && t >= r->deadline) {
    r->timed_out = 1;
    w->done = 1;
    return;
  }
  double slice = r->out < 0 && r->err < 0 ? 0.01 : 0.1;
  w->due = r->reaped ? t : t + slice < r->deadline ? t + slice : r->deadline;
}

/* Ends the child's group, unless the child has exited: SIGTERM (and
 * SIGCONT, for one stopped), up to GRACE seconds for the child to go, then
 * SIGKILL; and reaps it. The group is signalled only while the child is
 * unreaped, so its id cannot have been reused. */
static void finish(struct run *r) {
  if (r->out >= 0) close(r->out);
  if (r->err >= 0) close(r->err);
  r->out = r->err = -1;
  try_reap(r);
  if (r->reaped) return;
  kill(-r->pid, SIGTERM);
  kill(-r->pid, SIGCONT);
  double deadline = nt3_monotonic() + GRACE;
  while (!r->reaped && nt3_monotonic() < deadline) {
    nt3_sleep(0.01);
    try_reap(r);
  }
  if (r->reaped) return;
  kill(-r->pid, SIGKILL);
  while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR) {}
  r->reaped = 1;
}

static int failed(lua_State *L, const char *message, const char *code) {
  lua_pushnil(L);
  lua_pushstring(L, message);
  lua_pushstring(L, code);
  return 3;
}

/* Makes the pipes and starts the child. Returns 0, or errno with every
 * descriptor closed. *exec_errno: what the child's status pipe said (see
 * child). */
static int start(struct run *r, const char **argv, char **env, const char *cwd, int *exec_errno) {
  int o[2], e[2], s[2];
  if (pipe2(o, O_CLOEXEC) < 0) return errno;
  if (pipe2(e, O_CLOEXEC) < 0) {
    int err = errno;
    close(o[0]);
    close(o[1]);
    return err;
  }
  if (pipe2(s, O_CLOEXEC) < 0) {
    int err = errno;
    close(o[0]); close(o[1]); close(e[0]); close(e[1]);
    return err;
  }
  int fds[6] = {o[0], o[1], e[0], e[1], s[0], s[1]};
  for (int i = 0; i < 6; i++) fds[i] = above_stdio(fds[i]);
  for (int i = 0; i < 6; i++) {
    if (fds[i] < 0) {
      int err = errno;
      for (int j = 0; j < 6; j++) if (fds[j] >= 0) close(fds[j]);
      return err;
    }
  }
  int limit = fd_limit();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    for (int j = 0; j < 6; j++) close(fds[j]);
    return err;
  }
  if (pid == 0) child(argv, env, cwd, limit, fds[1], fds[3], fds[5]);
  setpgid(pid, pid); /* EACCES once it has run execve: it did it itself */
  close(fds[1]);
  close(fds[3]);
  close(fds[5]);
  r->pid = pid;
  r->out = fds[0];
  r->err = fds[2];
  int code = 0;
  ssize_t got;
  while ((got = read(fds[4], &code, sizeof code)) < 0 && errno == EINTR) {}
  close(fds[4]);
  *exec_errno = got == (ssize_t)sizeof code ? code : 0;
  return 0;
}

#define RUN_MT "nt3.proc.run"

/* Closes the pipes, ends the child's group (unless it has exited) and
 * reaps it, once; gives the stop signals back. */
static void end_run(lua_State *L, struct run *r) {
  nt3_sched_unwatch(L, &r->w);
  if (r->started && !r->finished) finish(r);
  r->finished = 1;
  release_signals(r);
}

/* At lua_close, or a task closed while its child ran. */
static int run_gc(lua_State *L) {
  end_run(L, luaL_checkudata(L, 1, RUN_MT));
  return 0;
}

static int watch_done(lua_State *L, void *w) {
  (void)L;
  return ((struct nt3_watch *)w)->done;
}

/* The result: { code, signal, stdout, stderr } | nil, message, code. */
static int proc_result(lua_State *L, int status, lua_KContext slot) {
  (void)status;
  struct run *r = luaL_checkudata(L, (int)slot, RUN_MT);
  if (lua_gettop(L) >= (int)slot + 2 && lua_touserdata(L, (int)slot + 1) == nt3_sched_cancel_mark()) {
    /* cancelled (task.cancel, Ctrl-C): the child's group ends now */
    end_run(L, r);
    lua_pushvalue(L, (int)slot + 2);
    return lua_error(L);
  }
  if (!r->w.done && !r->interrupted) r->interrupted = SIGINT; /* the wait was cut short by Ctrl-C */
  end_run(L, r);
  if (r->interrupted) return failed(L, "interrupted", "interrupted");
  if (r->overflow) {
    lua_pushnil(L);
    lua_pushfstring(L, "printed more than %d bytes", (int)r->max);
    lua_pushliteral(L, "output");
    return 3;
  }
  int sig = WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, r->timed_out ? TIMEOUT_CODE : sig ? 128 + sig : WEXITSTATUS(r->status));
  lua_setfield(L, -2, "code");
  lua_pushinteger(L, sig);
  lua_setfield(L, -2, "signal");
  lua_pushlstring(L, r->buf, r->len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, r->errbuf, r->errlen);
  lua_setfield(L, -2, "stderr");
  return 1;
}

/* proc.run(argv [, opts]) -> { code, signal, stdout, stderr } | nil,
 * message, code
 * opts: timeout (seconds, default 30), max_output (bytes of stdout, default
 * 64 KiB), env ({ NAME = "value" | false }: set or unset variables for the
 * child; the rest of nt3's environment is passed on), cwd (the child's
 * working directory, changed to after fork and before exec; relative to
 * nt3's; not in a sandbox, where a directory's existence is not the
 * command's to learn). code is the exit status (128 + N when killed by
 * signal N, 124 when the timeout ended it); stderr its first 4 KiB.
 * Failures: "cwd" (no such directory, or not one the child may enter:
 * "<cwd>: <reason>"), "exec" (could not start it), "output"
 * (printed more than max_output), "interrupted" (Ctrl-C under `nt3 run`:
 * the error "interrupted" follows at once), "system" (no pipe, no fork).
 * Inside a task it yields while the child runs. */
static int proc_run(lua_State *L) {
  lua_settop(L, 2);
  const char **argv = check_argv(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_Number timeout = opt_number(L, 2, "timeout", TIMEOUT_DEFAULT);
  luaL_argcheck(L, timeout > 0 && timeout <= TIMEOUT_MAX, 2, "timeout must be more than 0 and at most a day");
  lua_Number max = opt_number(L, 2, "max_output", OUTPUT_DEFAULT);
  luaL_argcheck(L, max >= 1 && max <= OUTPUT_MAX, 2, "max_output must be from 1 byte to 16 MiB");

  char *buf = lua_newuserdatauv(L, (size_t)max + 1, 0);
  int envarg = 0;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_getfield(L, 2, "env") != LUA_TNIL) {
      luaL_argexpected(L, lua_istable(L, -1), 2, "table as field 'env'");
      envarg = lua_gettop(L);
    } else {
      lua_pop(L, 1);
    }
  }
  char **env = child_environ(L, envarg);
  const char *cwd = NULL;
  if (!lua_isnoneornil(L, 2)) {
    /* read once, here: a metatable's __index could answer otherwise later */
    if (lua_getfield(L, 2, "cwd") != LUA_TNIL) {
      luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 2, "field 'cwd' must be a string");
      size_t len;
      cwd = lua_tolstring(L, -1, &len);
      luaL_argcheck(L, len > 0 && strlen(cwd) == len, 2, "field 'cwd' is empty or holds a zero byte");
      if (sandboxed(L)) refused_in_sandbox(L, "cwd");
    }
  }
  struct run *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  nt3_watch_init(&r->w);
  if (luaL_newmetatable(L, RUN_MT)) {
    lua_pushcfunction(L, run_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  int slot = lua_gettop(L);
  r->max = (size_t)max;
  r->buf = buf;
  r->out = r->err = -1;
  int in_task = nt3_sched_task(L); /* pushes the task */

  hold_signals(r);
  int exec_errno = 0;
  int err = start(r, argv, env, cwd, &exec_errno);
  if (err) {
    release_signals(r);
    return failed(L, strerror(err), "system");
  }
  r->started = 1;
  if (exec_errno < 0) {
    end_run(L, r);
    return failed(L, lua_pushfstring(L, "%s: %s", cwd, strerror(-exec_errno)), "cwd");
  }
  if (exec_errno) {
    end_run(L, r);
    return failed(L, strerror(exec_errno), "exec");
  }
  r->deadline = nt3_monotonic() + timeout;
  r->w.fds[0] = r->out;
  r->w.fds[1] = r->err;
  r->w.due = nt3_monotonic() + 0.1;
  r->w.step = proc_step;
  nt3_sched_watch(L, &r->w);
  if (in_task) {
    /* the task to wake travels with the process */
    r->w.waiter = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, slot);
    r->w.token = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushlightuserdata(L, nt3_sched_mark());
    lua_pushvalue(L, slot);
    return lua_yieldk(L, 2, (lua_KContext)slot, proc_result);
  }
  nt3_sched_wait(L, -1, watch_done, &r->w);
  return proc_result(L, LUA_OK, slot);
}

/* --- a pager ------------------------------------------------------------------ */

/* environ less NT3_API_TOKEN (child_environ), plus LESS=FRX when LESS is
 * not set, as git sets it: less quits when the text fits on one screen,
 * keeps colours and leaves the text on the terminal. */
static char **pager_environ(lua_State *L) {
  char **base = child_environ(L, 0);
  size_t n = 0;
  int has_less = 0;
  while (base[n]) {
    if (strncmp(base[n], "LESS=", 5) == 0) has_less = 1;
    n++;
  }
  if (has_less) return base;
  char **env = lua_newuserdatauv(L, sizeof *env * (n + 2), 0);
  memcpy(env, base, sizeof *env * n);
  env[n] = (char *)"LESS=FRX";
  env[n + 1] = NULL;
  return env;
}

/* After fork: the pager reads the text on stdin and has nt3's terminal as
 * stdout and stderr, in nt3's process group (the foreground one), so it
 * reads keys from the terminal; no other descriptor. */
static void pager_child(const char **argv, char **env, int limit, int in_r, int status_w) {
  if (dup2(in_r, 0) < 0) goto fail;
  close_from(3, status_w, limit);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, NULL);
  sigaction(SIGINT, &dfl, NULL);
  sigaction(SIGQUIT, &dfl, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(argv[0], (char *const *)argv, env);
fail:;
  int e = errno;
  ssize_t w = write(status_w, &e, sizeof e);
  (void)w;
  _exit(127);
}

/* proc.page(argv, text) -> status | nil, message, code
 * Runs a pager (argv[1] an absolute path, no shell) with text on its stdin
 * and the terminal as its stdout, and waits for it. While it runs nt3
 * ignores SIGINT, SIGQUIT and SIGPIPE: Ctrl-C belongs to the pager, and a
 * pager that quits before reading everything is not a failure. code:
 * "exec" (could not start it), "system" (no pipe, no fork). */
static int proc_page(lua_State *L) {
  lua_settop(L, 2);
  const char **argv = check_argv(L, 1);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  char **env = pager_environ(L);
  int p[2], s[2];
  if (pipe2(p, O_CLOEXEC) < 0) return failed(L, strerror(errno), "system");
  if (pipe2(s, O_CLOEXEC) < 0) {
    int err = errno;
    close(p[0]);
    close(p[1]);
    return failed(L, strerror(err), "system");
  }
  int fds[4] = {p[0], p[1], s[0], s[1]};
  for (int i = 0; i < 4; i++) fds[i] = above_stdio(fds[i]);
  for (int i = 0; i < 4; i++) {
    if (fds[i] < 0) {
      int err = errno;
      for (int j = 0; j < 4; j++) if (fds[j] >= 0) close(fds[j]);
      return failed(L, strerror(err), "system");
    }
  }
  static const int ignored[] = {SIGINT, SIGQUIT, SIGPIPE};
  struct sigaction old[3], ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  for (int i = 0; i < 3; i++) sigaction(ignored[i], &ign, &old[i]);
  int limit = fd_limit();
  pid_t pid = fork();
  if (pid == 0) pager_child(argv, env, limit, fds[0], fds[3]);
  int err = pid < 0 ? errno : 0;
  close(fds[0]);
  close(fds[3]);
  int exec_errno = 0;
  if (pid > 0) {
    ssize_t got;
    while ((got = read(fds[2], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {}
    if (got != (ssize_t)sizeof exec_errno) exec_errno = 0;
    /* EPIPE: the pager quit before the end, as the user asked it to */
    if (!exec_errno) (void)nt3_write_all(fds[1], text, len);
  }
  close(fds[1]);
  close(fds[2]);
  int status = 0;
  if (pid > 0)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  for (int i = 0; i < 3; i++) sigaction(ignored[i], &old[i], NULL);
  if (err) return failed(L, strerror(err), "system");
  if (exec_errno) return failed(L, strerror(exec_errno), "exec");
  lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 1;
}

static const luaL_Reg proc_fns[] = {
  {"run", proc_run},
  {"page", proc_page},
  {NULL, NULL},
};

int luaopen_nt3_proc(lua_State *L) {
  luaL_newlib(L, proc_fns);
  lua_pushinteger(L, TIMEOUT_CODE);
  lua_setfield(L, -2, "TIMED_OUT");
  return 1;
}
