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
 * first pipe is made; from then on no Lua function that could raise is
 * called until every descriptor is closed and the child reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "gate.h"
#include "runtime.h"

#define TIMEOUT_DEFAULT 30.0
#define TIMEOUT_MAX 86400.0
#define OUTPUT_DEFAULT (64 * 1024)
#define OUTPUT_MAX (16 * 1024 * 1024)
#define STDERR_KEEP 4096
#define ARGS_MAX 256
#define GRACE 2.0 /* seconds between SIGTERM and SIGKILL */

extern char **environ;

struct run {
  pid_t pid;
  int out, err;          /* read ends; -1 once closed */
  char *buf;             /* stdout, max_output + 1 bytes */
  size_t len, max;
  char errbuf[STDERR_KEEP];
  size_t errlen;
  int status;            /* from waitpid, once reaped */
  int reaped, timed_out, overflow;
  int interrupted;       /* the signal that cut the run short, or 0 */
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

/* environ less NT3_API_TOKEN, in a block of Lua's (on the stack): a
 * keyring helper has no business with the token the user set for nt3, and
 * a program that logs its environment would write it down. With opts.env
 * (at index envarg, or 0): each NAME = "value" is set, each NAME = false
 * unset. The "NAME=value" strings live in a table left on the stack. */
static char **child_environ(lua_State *L, int envarg) {
  static const char drop[] = "NT3_API_TOKEN=";
  /* a sandbox's child gets only the variables its env grant names, and
   * the sandbox sets none of its own (LD_PRELOAD would run a library) */
  if (lua_getfield(L, LUA_REGISTRYINDEX, NT3_PROC_ENVIRON) == LUA_TLIGHTUSERDATA) {
    char **granted = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (envarg) luaL_argerror(L, 2, "field 'env' is not available in the sandbox");
    return granted;
  }
  lua_pop(L, 1);
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
 * close-on-exec, so the parent reads 0 bytes when execve worked, or errno. */
static void child(const char **argv, char **env, int limit, int out_w, int err_w, int status_w) {
  /* a group of its own, which nt3 can end whole; the parent sets it too,
   * whichever runs first */
  setpgid(0, 0);
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

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* Reads both pipes until the child is gone and nothing is left to read, the
 * deadline passes or stdout outgrows its bound. A grandchild that keeps a
 * pipe open does not hold nt3 up once the child itself has exited: the
 * wait is cut into slices of at most 100 ms to notice that. */
static void collect(struct run *r, double timeout) {
  double deadline = now() + timeout;
  for (;;) {
    struct pollfd p[2];
    int n = 0;
    if (r->out >= 0) p[n++] = (struct pollfd){.fd = r->out, .events = POLLIN};
    if (r->err >= 0) p[n++] = (struct pollfd){.fd = r->err, .events = POLLIN};
    try_reap(r);
    if (r->reaped && n == 0) return;
    int wait_ms = 0;
    if (!r->reaped) {
      double left = deadline - now();
      if (left <= 0) {
        r->timed_out = 1;
        return;
      }
      wait_ms = n == 0 ? 10 : 100;
      if (left * 1000 < wait_ms) wait_ms = (int)(left * 1000) + 1;
    }
    int ready = poll(p, (nfds_t)n, wait_ms);
    int sig = got_signal ? got_signal : nt3_interrupt_pending() ? SIGINT : 0;
    if (sig && !r->reaped) {
      r->interrupted = sig;
      return;
    }
    if (ready < 0 && errno != EINTR) return;
    /* exited, and what it wrote has been read */
    if (r->reaped && ready <= 0) return;
    for (int i = 0; ready > 0 && i < n; i++) {
      if (!p[i].revents) continue;
      int is_out = p[i].fd == r->out;
      drain(r, is_out ? &r->out : &r->err, is_out);
      if (r->overflow) return;
    }
  }
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
  double deadline = now() + GRACE;
  while (!r->reaped && now() < deadline) {
    struct timespec slice = {0, 10 * 1000 * 1000};
    nanosleep(&slice, NULL);
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
 * descriptor closed. */
static int start(struct run *r, const char **argv, char **env, int *exec_errno) {
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
  if (pid == 0) child(argv, env, limit, fds[1], fds[3], fds[5]);
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

/* proc.run(argv [, opts]) -> stdout, status, stderr | nil, message, code
 * opts: timeout (seconds, default 30), max_output (bytes of stdout, default
 * 64 KiB), env ({ NAME = "value" | false }: set or unset variables for the
 * child; the rest of nt3's environment is passed on). status is the exit status; stderr its first 4 KiB. code:
 * "exec" (could not start it), "timeout", "output" (printed more than
 * max_output), "signal" (killed by a signal), "interrupted" (Ctrl-C under
 * `nt3 run`: the error "interrupted" follows at once), "system" (no pipe,
 * no fork). */
static int proc_run(lua_State *L) {
  lua_settop(L, 2);
  const char **argv = check_argv(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_Number timeout = opt_number(L, 2, "timeout", TIMEOUT_DEFAULT);
  luaL_argcheck(L, timeout > 0 && timeout <= TIMEOUT_MAX, 2, "timeout must be more than 0 and at most a day");
  lua_Number max = opt_number(L, 2, "max_output", OUTPUT_DEFAULT);
  luaL_argcheck(L, max >= 1 && max <= OUTPUT_MAX, 2, "max_output must be from 1 byte to 16 MiB");

  struct run *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  r->max = (size_t)max;
  r->buf = lua_newuserdatauv(L, r->max + 1, 0);
  r->out = r->err = -1;

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

  struct sigaction old[NSTOP];
  int taken[NSTOP];
  take_signals(old, taken);
  int exec_errno = 0;
  int err = start(r, argv, env, &exec_errno);
  if (err) {
    give_signals(old, taken);
    return failed(L, strerror(err), "system");
  }
  if (!exec_errno) collect(r, timeout);
  finish(r);
  give_signals(old, taken);
  if (exec_errno) return failed(L, strerror(exec_errno), "exec");

  if (r->interrupted) return failed(L, "interrupted", "interrupted");
  if (r->overflow) {
    lua_pushnil(L);
    lua_pushfstring(L, "printed more than %d bytes", (int)r->max);
    lua_pushliteral(L, "output");
    return 3;
  }
  if (r->timed_out) {
    char secs[32];
    snprintf(secs, sizeof secs, "%g", (double)timeout);
    lua_pushnil(L);
    lua_pushfstring(L, "did not finish within %s seconds", secs);
    lua_pushliteral(L, "timeout");
    return 3;
  }
  if (WIFSIGNALED(r->status)) {
    lua_pushnil(L);
    lua_pushfstring(L, "was killed by signal %d", WTERMSIG(r->status));
    lua_pushliteral(L, "signal");
    return 3;
  }
  lua_pushlstring(L, r->buf, r->len);
  lua_pushinteger(L, WEXITSTATUS(r->status));
  lua_pushlstring(L, r->errbuf, r->errlen);
  return 3;
}

static const luaL_Reg proc_fns[] = {
  {"run", proc_run},
  {NULL, NULL},
};

int luaopen_nt3_proc(lua_State *L) {
  luaL_newlib(L, proc_fns);
  return 1;
}
