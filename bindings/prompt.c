/*
 * nt3.prompt: questions asked on the controlling terminal.
 *
 * Everything goes through /dev/tty, never stdin/stdout: a token typed at the
 * prompt must not end up in a pipe or a log that stdout was redirected to
 * (docs/architecture.md, invariant 9). While a prompt runs the terminal may be in a
 * changed mode (echo off), and it must be put back on every way out,
 * Ctrl-C, SIGTERM, Ctrl-Z and every other signal that ends or stops the
 * process included (invariant 7). So the terminal work is
 * done by plain C that makes no Lua call (a Lua error would longjmp past the
 * restore); results are pushed only once the terminal is back as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <lauxlib.h>

/* Longest answer accepted. A token is at most 4 KiB; anything longer than
 * twice that is a paste gone wrong, not a secret. */
#define INPUT_MAX 8192

/* How many times confirm asks before giving up. */
#define CONFIRM_TRIES 3

/* Signals that end a prompt with nil, "interrupted" (the caller exits 130). */
static const int interrupt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* Signals that stop a prompt: the terminal is given back while stopped. */
static const int stop_signals[] = {SIGTSTP, SIGTTIN, SIGTTOU};

/* Signals whose default action ends the process, with or without a core:
 * the terminal is put back, then the signal takes its default course.
 * The real-time signals (default: end) are added in session_begin. */
static const int fatal_signals[] = {
  SIGALRM, SIGUSR1, SIGUSR2, SIGPIPE, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGSYS,
  SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP,
#ifdef SIGIO
  SIGIO,
#elif defined(SIGPOLL)
  SIGPOLL,
#endif
#ifdef SIGPWR
  SIGPWR,
#endif
#ifdef SIGSTKFLT
  SIGSTKFLT,
#endif
#ifdef SIGEMT
  SIGEMT,
#endif
};

#define COUNT(a) (sizeof (a) / sizeof (a)[0])

/* How a read from the terminal ended. */
enum status {
  ST_OK,          /* a byte or a whole answer */
  ST_RESUMED,     /* we were stopped (Ctrl-Z, SIGTTIN, SIGTTOU) and continued: redraw */
  ST_INTERRUPTED, /* SIGINT, SIGTERM, SIGHUP or SIGQUIT */
  ST_EOF,         /* Ctrl-D on empty input, or the terminal went away */
  ST_TOO_LONG,
  ST_NO_ANSWER,   /* confirm: no answer was yes or no */
  ST_NO_TERMINAL, /* /dev/tty cannot be opened */
  ST_ERROR,       /* errno says why */
};

/* One prompt on the terminal: what to restore when it ends. */
struct session {
  int fd;
  int quiet;              /* echo and line editing are turned off */
  volatile sig_atomic_t in_mode; /* the terminal may be in the changed mode */
  struct termios saved;   /* the terminal as we found it */
  struct termios changed; /* the mode the prompt reads in */
  sigset_t taken;         /* the signals whose handlers we replaced */
  struct sigaction old[NSIG];
  sigset_t old_mask;
  sigset_t held_mask;     /* old_mask and our held signals: the usual mask */
  sigset_t wait_mask;     /* old_mask without them: used while waiting */
  sigset_t read_mask;     /* held_mask without SIGTTIN: used while reading */
  int err;                /* errno of an ST_ERROR */
};

/*
 * The only global mutable state: what the handlers saw, and the session a
 * fatal signal must put back (docs/architecture.md, "How the code reads"). Each is set before the handler
 * that reads it is installed and cleared after it is gone.
 */
static volatile sig_atomic_t got_interrupt;
static volatile sig_atomic_t got_stop;
static struct session *volatile active;

static void on_interrupt(int sig) {
  got_interrupt = sig;
}

static void on_stop(int sig) {
  got_stop = sig;
}

/*
 * A signal that ends the process cannot wait for the prompt loop: it may be
 * a fault in this very code. So the handler puts the terminal back itself
 * and lets the signal do what it would have done: with the default action
 * restored, the raised signal is delivered as this handler returns (or the
 * faulting instruction faults again), and the process ends, or dumps core,
 * as the signal says. tcsetattr, sigaction and raise are async-signal-safe.
 */
static void on_fatal(int sig) {
  struct session *s = active;
  if (s && s->in_mode) tcsetattr(s->fd, TCSAFLUSH, &s->saved);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  raise(sig);
}

static int write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { /* the tty is non-blocking: wait for room */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) return -1;
        continue;
      }
      return -1;
    }
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static int write_str(int fd, const char *s) {
  return write_all(fd, s, strlen(s));
}

/* SIGTTOU is held here, so the terminal is put back even from the
 * background; only then may in_mode say it is back. */
static void give_back(struct session *s) {
  if (!s->in_mode) return;
  int r;
  do r = tcsetattr(s->fd, TCSAFLUSH, &s->saved); while (r < 0 && errno == EINTR);
  s->in_mode = 0;
}

static void take(struct session *s, int sig, void (*fn)(int), int always) {
  struct sigaction sa;
  if (!always) {
    /* a signal the program ignores or handles itself is left to it */
    if (sigaction(sig, NULL, &sa) < 0) return;
    if ((sa.sa_flags & SA_SIGINFO) || sa.sa_handler != SIG_DFL) return;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  if (fn == on_fatal)
    sigfillset(&sa.sa_mask); /* nothing else runs while the terminal is put back */
  else
    sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: the wait must return EINTR */
  if (sigaction(sig, &sa, &s->old[sig]) == 0) sigaddset(&s->taken, sig);
}

/* Stops as if we had no handler for sig; returns once continued. In an
 * orphaned process group the kernel discards the stop: we then carry on. */
static void stop(struct session *s, int sig) {
  struct sigaction dfl, mine;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, &mine);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigprocmask(SIG_UNBLOCK, &one, NULL);
  raise(sig); /* returns once we are continued */
  // cppcheck-suppress unreachableCode ; raise() of a stop signal returns
  sigprocmask(SIG_SETMASK, &s->held_mask, NULL);
  sigaction(sig, &mine, NULL);
}

/*
 * The prompt's mode is taken as any program takes it: from the background
 * the kernel answers with SIGTTOU, and we stop until we are in the
 * foreground again; only then is echo turned off. That is why SIGTTOU is
 * let through here (and only here: held, a tcsetattr from the background
 * would go through). An interrupted tcsetattr changed nothing, so the stop
 * leaves the terminal as we found it.
 */
static int take_mode(struct session *s) {
  sigset_t mask = s->held_mask;
  if (sigismember(&s->taken, SIGTTOU) == 1 && !sigismember(&s->old_mask, SIGTTOU))
    sigdelset(&mask, SIGTTOU);
  for (;;) {
    sigprocmask(SIG_SETMASK, &mask, NULL);
    s->in_mode = 1; /* before the change: a fatal signal may land during it */
    int r = tcsetattr(s->fd, TCSAFLUSH, &s->changed);
    int e = errno;
    sigprocmask(SIG_SETMASK, &s->held_mask, NULL);
    if (r == 0 || e != EINTR) {
      errno = e;
      return r;
    }
    s->in_mode = 0;
    if (got_stop == SIGTTOU) {
      got_stop = 0;
      stop(s, SIGTTOU);
    }
  }
}

/* A signal we took and that the prompt handles in its loop: held, except
 * while waiting. */
static void hold(struct session *s, int sig) {
  if (sigismember(&s->taken, sig) != 1) return;
  sigaddset(&s->held_mask, sig);
  sigdelset(&s->wait_mask, sig);
}

/* The handlers first, then the mask: a signal still pending is then
 * delivered as if no prompt had run. */
static void restore_signals(struct session *s) {
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember(&s->taken, sig) == 1) sigaction(sig, &s->old[sig], NULL);
  active = NULL;
  sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
}

/*
 * Takes over the signals and, for a quiet prompt, turns echo and canonical
 * mode off (ISIG stays on, so Ctrl-C is still a signal). The interrupt and
 * stop signals are held except while waiting in ppoll: a signal that
 * arrived between a check of the flags and a blocking read() would
 * otherwise be noticed only after the next key press. The fatal ones are
 * never held: a fault must reach its handler at once.
 */
static int session_begin(struct session *s, int fd, int quiet) {
  memset(s, 0, sizeof *s);
  s->fd = fd;
  s->quiet = quiet;
  if (quiet) {
    if (tcgetattr(fd, &s->saved) < 0) return -1;
    s->changed = s->saved;
    s->changed.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ICANON);
    s->changed.c_lflag |= ISIG;
    s->changed.c_cc[VMIN] = 1;
    s->changed.c_cc[VTIME] = 0;
  }
  got_interrupt = 0;
  got_stop = 0;
  sigemptyset(&s->taken);
  sigprocmask(SIG_SETMASK, NULL, &s->old_mask);
  active = s;
  /* Ctrl-C, Ctrl-Z and the rest have always been the prompt's to handle;
   * the signals added later are taken only where the default was in force */
  for (size_t i = 0; i < COUNT(interrupt_signals); i++) take(s, interrupt_signals[i], on_interrupt, 1);
  take(s, SIGTSTP, on_stop, 1);
  take(s, SIGTTIN, on_stop, 0);
  take(s, SIGTTOU, on_stop, 0);
  for (size_t i = 0; i < COUNT(fatal_signals); i++) take(s, fatal_signals[i], on_fatal, 0);
#ifdef SIGRTMIN
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) take(s, sig, on_fatal, 0);
#endif
  s->held_mask = s->wait_mask = s->old_mask;
  for (size_t i = 0; i < COUNT(interrupt_signals); i++) hold(s, interrupt_signals[i]);
  for (size_t i = 0; i < COUNT(stop_signals); i++) hold(s, stop_signals[i]);
  s->read_mask = s->held_mask;
  if (sigismember(&s->taken, SIGTTIN) == 1 && !sigismember(&s->old_mask, SIGTTIN))
    sigdelset(&s->read_mask, SIGTTIN);
  sigprocmask(SIG_SETMASK, &s->held_mask, NULL);
  if (quiet && take_mode(s) < 0) {
    int e = errno;
    s->in_mode = 0;
    restore_signals(s);
    errno = e;
    return -1;
  }
  return 0;
}

/* The terminal first: a signal still pending when the mask is restored
 * (and that kills us) then finds the terminal as the user left it. A stop
 * that was seen but not yet acted on is passed on the same way. */
static void session_end(struct session *s) {
  give_back(s);
  restore_signals(s);
  if (got_stop) raise(got_stop);
}

/*
 * Ctrl-Z (or SIGTTIN, SIGTTOU): give the user their terminal back, stop as
 * if we had no handler, and take the prompt mode again once continued
 * (SIGCONT).
 */
static void suspend(struct session *s, int sig) {
  give_back(s);
  stop(s, sig);
  if (s->quiet) take_mode(s);
}

/*
 * One byte from the non-blocking terminal. SIGTTIN may land during the
 * read: a read from the background then stops us, with the terminal given
 * back, as it stops any program (the flag is seen by session_getc).
 */
static ssize_t read_byte(struct session *s, unsigned char *c) {
  sigprocmask(SIG_SETMASK, &s->read_mask, NULL);
  ssize_t n = read(s->fd, c, 1);
  int e = errno;
  sigprocmask(SIG_SETMASK, &s->held_mask, NULL);
  errno = e;
  return n;
}

/* The next byte typed, or why there is none. */
static enum status session_getc(struct session *s, unsigned char *c) {
  for (;;) {
    if (got_interrupt) return ST_INTERRUPTED;
    if (got_stop) {
      int sig = got_stop;
      got_stop = 0;
      suspend(s, sig);
      return ST_RESUMED;
    }
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int r = ppoll(&p, 1, NULL, &s->wait_mask);
    if (r < 0) {
      if (errno == EINTR) continue; /* the flags say which signal */
      s->err = errno;
      return ST_ERROR;
    }
    ssize_t n = read_byte(s, c);
    if (n == 1) return ST_OK;
    if (n == 0) return ST_EOF;
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == EIO) return ST_EOF; /* hung up */
    s->err = errno;
    return ST_ERROR;
  }
}

static int is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

/* the terminal's own erase/kill/eof characters, when they are control bytes */
static int is_cc(const struct session *s, int which, unsigned char c) {
  cc_t v = s->saved.c_cc[which];
  return v != _POSIX_VDISABLE && (v < 0x20 || v == 0x7f) && c == v;
}

/* What a prompt asks and what it got. */
struct question {
  const char *message;
  const char *mask;        /* secret: shown per character typed, or NULL */
  int dflt;                /* confirm: the answer to an empty line */
  int answer;              /* confirm: 1 yes, 0 no */
  size_t len;
  char buf[INPUT_MAX];
};

/* Erase the last character (a whole UTF-8 sequence) and its mask. */
static void erase_one(const struct session *s, struct question *q) {
  if (q->len == 0) return;
  do q->len--; while (q->len > 0 && is_continuation((unsigned char)q->buf[q->len]));
  if (q->mask) write_str(s->fd, "\b \b");
}

static void draw_masks(const struct session *s, const struct question *q) {
  if (!q->mask) return;
  for (size_t i = 0; i < q->len; i++)
    if (!is_continuation((unsigned char)q->buf[i])) write_str(s->fd, q->mask);
}

static enum status write_message(struct session *s, const struct question *q) {
  if (write_str(s->fd, q->message) < 0) {
    s->err = errno;
    return ST_ERROR;
  }
  return ST_OK;
}

/*
 * A secret, read byte by byte with echo off: Enter ends it, Backspace and
 * Ctrl-U edit it, one mask (if any) is shown per character typed.
 */
static enum status read_secret(struct session *s, struct question *q) {
  q->len = 0;
  enum status st = write_message(s, q);
  if (st != ST_OK) return st;
  for (;;) {
    unsigned char c;
    st = session_getc(s, &c);
    if (st == ST_RESUMED) {
      write_str(s->fd, q->message);
      draw_masks(s, q);
      continue;
    }
    if (st != ST_OK) return st;
    if (c == '\r' || c == '\n') return ST_OK;
    if (c == 0x7f || c == 0x08 || is_cc(s, VERASE, c)) {
      erase_one(s, q);
    } else if (c == 0x15 || is_cc(s, VKILL, c)) {
      while (q->len > 0) erase_one(s, q);
    } else if (c == 0x04 || is_cc(s, VEOF, c)) {
      if (q->len == 0) return ST_EOF;
    } else if (c < 0x20) {
      /* other control bytes (Tab, Esc, ...) are not part of a secret */
    } else {
      if (q->len == INPUT_MAX) return ST_TOO_LONG;
      q->buf[q->len++] = (char)c;
      if (q->mask && !is_continuation(c)) write_str(s->fd, q->mask);
    }
  }
}

/* One line with the terminal's own echo and editing; no newline kept. */
static enum status read_line(struct session *s, struct question *q) {
  q->len = 0;
  enum status st = write_message(s, q);
  if (st != ST_OK) return st;
  for (;;) {
    unsigned char c;
    st = session_getc(s, &c);
    if (st == ST_RESUMED) {
      /* the stop discarded the half-typed line; ask again */
      q->len = 0;
      write_str(s->fd, q->message);
      continue;
    }
    if (st == ST_EOF && q->len > 0) return ST_OK;
    if (st != ST_OK) return st;
    if (c == '\n' || c == '\r') return ST_OK;
    if (q->len == INPUT_MAX) return ST_TOO_LONG;
    q->buf[q->len++] = (char)c;
  }
}

/* yes: 1, no: 0, empty: the default, anything else: -1 */
static int parse_answer(const char *buf, size_t len, int dflt) {
  while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t')) len--;
  while (len > 0 && (buf[0] == ' ' || buf[0] == '\t')) buf++, len--;
  if (len == 0) return dflt;
  if ((len == 1 && strncasecmp(buf, "y", 1) == 0) || (len == 3 && strncasecmp(buf, "yes", 3) == 0))
    return 1;
  if ((len == 1 && strncasecmp(buf, "n", 1) == 0) || (len == 2 && strncasecmp(buf, "no", 2) == 0))
    return 0;
  return -1;
}

/* A yes or a no, asking again after anything else, CONFIRM_TRIES times. */
static enum status read_yes_no(struct session *s, struct question *q) {
  for (int i = 0; i < CONFIRM_TRIES; i++) {
    if (i > 0) write_str(s->fd, "Please answer y or n.\n");
    enum status st = read_line(s, q);
    if (st != ST_OK) return st;
    q->answer = parse_answer(q->buf, q->len, q->dflt);
    if (q->answer >= 0) break;
  }
  return ST_OK; /* answer -1: no valid answer, but the terminal ended every line */
}

/* O_NONBLOCK: ppoll can say "readable" and then Ctrl-C flush the input
 * queue before the read(); a blocking read() would then sleep with SIGINT
 * blocked and pending, and the terminal never come back. Non-blocking, the
 * read() returns EAGAIN and we go back to ppoll, where the signal lands. */
static int open_tty(void) {
  int fd;
  do fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK); while (fd < 0 && errno == EINTR);
  return fd;
}

/*
 * Every prompt: open the terminal, take it over, let `reader` ask, put it
 * all back, close. A line the terminal did not end (echo off, or the
 * answer cut short) is ended here, so what comes next starts on its own.
 */
static enum status on_terminal(int quiet, enum status (*reader)(struct session *, struct question *),
                               struct question *q, int *err) {
  int fd = open_tty();
  if (fd < 0) return ST_NO_TERMINAL;
  struct session s;
  enum status st;
  if (session_begin(&s, fd, quiet) < 0) {
    s.err = errno;
    st = ST_ERROR;
  } else {
    st = reader(&s, q);
    if (quiet || st != ST_OK) write_str(fd, "\n");
    session_end(&s);
  }
  *err = s.err;
  close(fd);
  return st;
}

/* The failure results: nil, message, code. The code is what callers
 * branch on: a stable name, or the errno of a terminal error. */
static int push_failure(lua_State *L, enum status st, int err) {
  static const struct { enum status st; const char *message, *code; } failures[] = {
    {ST_INTERRUPTED, "interrupted", "interrupted"},
    {ST_EOF, "end of input", "end_of_input"},
    {ST_NO_TERMINAL, "no terminal", "no_terminal"},
    {ST_TOO_LONG, "input too long", "input_too_long"},
    {ST_NO_ANSWER, "no valid answer", "no_valid_answer"},
  };
  lua_pushnil(L);
  for (size_t i = 0; i < COUNT(failures); i++) {
    if (failures[i].st == st) {
      lua_pushstring(L, failures[i].message);
      lua_pushstring(L, failures[i].code);
      return 3;
    }
  }
  lua_pushfstring(L, "terminal: %s", strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

/* A mask is one character: "\b \b" erases exactly one column. */
static const char *check_mask(lua_State *L, int opts) {
  if (lua_isnoneornil(L, opts)) return NULL;
  luaL_checktype(L, opts, LUA_TTABLE);
  lua_getfield(L, opts, "mask");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_argerror(L, opts, "mask must be a string");
  size_t n;
  const char *mask = lua_tolstring(L, -1, &n);
  if (n == 0) {
    lua_pop(L, 1);
    return NULL; /* "" means no mask, as nil does */
  }
  unsigned char c0 = (unsigned char)mask[0];
  size_t want = c0 < 0x80 ? 1 : c0 >= 0xF0 ? 4 : c0 >= 0xE0 ? 3 : c0 >= 0xC0 ? 2 : 0;
  if (want != n || c0 < 0x20 || c0 == 0x7f)
    luaL_argerror(L, opts, "mask must be one printable character");
  lua_replace(L, opts); /* keeps the string alive, and anchored, at a known index */
  return lua_tostring(L, opts);
}

/* prompt.secret(message[, opts]) -> string | nil, message, code */
static int prompt_secret(lua_State *L) {
  struct question q = {.message = luaL_checkstring(L, 1)};
  q.mask = check_mask(L, 2);
  int err = 0;
  enum status st = on_terminal(1, read_secret, &q, &err);
  int nres;
  if (st == ST_OK) {
    lua_pushlstring(L, q.buf, q.len);
    nres = 1;
  } else {
    nres = push_failure(L, st, err);
  }
  explicit_bzero(q.buf, sizeof q.buf);
  return nres;
}

/* prompt.line(message[, default]) -> string | nil, message, code */
static int prompt_line(lua_State *L) {
  struct question q = {.message = luaL_checkstring(L, 1)};
  size_t default_len = 0;
  const char *dflt = luaL_optlstring(L, 2, NULL, &default_len);
  int err = 0;
  enum status st = on_terminal(0, read_line, &q, &err);
  if (st != ST_OK) return push_failure(L, st, err);
  if (q.len == 0 && dflt)
    lua_pushlstring(L, dflt, default_len);
  else
    lua_pushlstring(L, q.buf, q.len);
  return 1;
}

/* prompt.confirm(message[, default=false]) -> boolean | nil, message, code */
static int prompt_confirm(lua_State *L) {
  const char *message = luaL_checkstring(L, 1);
  struct question q = {.dflt = 0};
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    q.dflt = lua_toboolean(L, 2);
  }
  /* the question is built before the terminal is touched: it may raise */
  q.message = lua_pushfstring(L, "%s%s", message, q.dflt ? " [Y/n] " : " [y/N] ");
  int err = 0;
  enum status st = on_terminal(0, read_yes_no, &q, &err);
  if (st == ST_OK && q.answer < 0) st = ST_NO_ANSWER;
  if (st != ST_OK) return push_failure(L, st, err);
  lua_pushboolean(L, q.answer);
  return 1;
}

/* The fd a stream argument names: "stdin"|"stdout"|"stderr" or a number;
 * -1 for a number no fd can have. */
static int stream_fd(lua_State *L, int arg) {
  static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, arg);
    return n < 0 || n > 0x7fffffff ? -1 : (int)n;
  }
  return luaL_checkoption(L, arg, NULL, names);
}

/* prompt.isatty(stream) -> boolean; stream: "stdin"|"stdout"|"stderr"|fd */
static int prompt_isatty(lua_State *L) {
  int fd = stream_fd(L, 1);
  lua_pushboolean(L, fd >= 0 && isatty(fd));
  return 1;
}

/* prompt.columns(stream) -> the width of the terminal on stream | nil
 * (not a terminal, or one that reports no size: a fresh pty says 0) */
static int prompt_columns(lua_State *L) {
  int fd = stream_fd(L, 1);
  struct winsize ws;
  if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    lua_pushinteger(L, ws.ws_col);
  else
    lua_pushnil(L);
  return 1;
}

static const luaL_Reg prompt_fns[] = {
  {"secret", prompt_secret},
  {"line", prompt_line},
  {"confirm", prompt_confirm},
  {"isatty", prompt_isatty},
  {"columns", prompt_columns},
  {NULL, NULL},
};

int luaopen_nt3_prompt(lua_State *L) {
  luaL_newlib(L, prompt_fns);
  return 1;
}
