/*
 * nt3.prompt: questions asked on the controlling terminal.
 *
 * Everything goes through /dev/tty, never stdin/stdout: a token typed at the
 * prompt must not end up in a pipe or a log that stdout was redirected to
 * (DESIGN.md invariant 9). While a prompt runs the terminal may be in a
 * changed mode (echo off), and it must be put back on every way out,
 * Ctrl-C, SIGTERM and Ctrl-Z included (invariant 7). So the terminal work is
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
#include <termios.h>
#include <unistd.h>

#include <lauxlib.h>

/* Longest answer accepted. A token is at most 4 KiB; anything longer than
 * twice that is a paste gone wrong, not a secret. */
#define INPUT_MAX 8192

/* How many times confirm asks before giving up. */
#define CONFIRM_TRIES 3

/* The only global mutable state: what the handlers saw (STYLE.md). */
static volatile sig_atomic_t got_interrupt;
static volatile sig_atomic_t got_suspend;

static void on_interrupt(int sig) {
  got_interrupt = sig;
}

static void on_suspend(int sig) {
  (void)sig;
  got_suspend = 1;
}

/* Signals that end a prompt, then the one that pauses it. */
static const int interrupt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_INTERRUPT (sizeof interrupt_signals / sizeof interrupt_signals[0])
#define N_HANDLED (N_INTERRUPT + 1)

/* How a read from the terminal ended. */
enum status {
  ST_OK,          /* a byte or a whole answer */
  ST_RESUMED,     /* we were stopped (Ctrl-Z) and continued: redraw */
  ST_INTERRUPTED, /* SIGINT, SIGTERM, SIGHUP or SIGQUIT */
  ST_EOF,         /* Ctrl-D on empty input, or the terminal went away */
  ST_TOO_LONG,
  ST_ERROR,       /* errno says why */
};

/* One prompt on the terminal: what to restore when it ends. */
struct session {
  int fd;
  int quiet;              /* echo and line editing were turned off */
  struct termios saved;   /* the terminal as we found it */
  struct termios changed; /* the mode the prompt reads in */
  struct sigaction old[N_HANDLED];
  sigset_t old_mask;
  sigset_t wait_mask;     /* old_mask without our signals: used while waiting */
  int err;                /* errno of an ST_ERROR */
};

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

static int set_mode(struct session *s, const struct termios *t) {
  int r;
  do r = tcsetattr(s->fd, TCSAFLUSH, t); while (r < 0 && errno == EINTR);
  return r;
}

static void handle(int sig, void (*fn)(int), struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: the wait must return EINTR */
  sigaction(sig, &sa, old);
}

/* The handlers first, then the mask: a signal still pending is then
 * delivered as if no prompt had run. */
static void restore_signals(struct session *s) {
  for (size_t i = 0; i < N_INTERRUPT; i++) sigaction(interrupt_signals[i], &s->old[i], NULL);
  sigaction(SIGTSTP, &s->old[N_INTERRUPT], NULL);
  sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
}

/*
 * Takes over the signals and, for a quiet prompt, turns echo and canonical
 * mode off (ISIG stays on, so Ctrl-C is still a signal). The signals are
 * blocked except while waiting in ppoll: a signal that arrived between a
 * check of the flags and a blocking read() would otherwise be noticed only
 * after the next key press.
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
  got_suspend = 0;
  sigset_t block;
  sigemptyset(&block);
  for (size_t i = 0; i < N_INTERRUPT; i++) sigaddset(&block, interrupt_signals[i]);
  sigaddset(&block, SIGTSTP);
  sigprocmask(SIG_BLOCK, &block, &s->old_mask);
  s->wait_mask = s->old_mask;
  for (size_t i = 0; i < N_INTERRUPT; i++) {
    sigdelset(&s->wait_mask, interrupt_signals[i]);
    handle(interrupt_signals[i], on_interrupt, &s->old[i]);
  }
  sigdelset(&s->wait_mask, SIGTSTP);
  handle(SIGTSTP, on_suspend, &s->old[N_INTERRUPT]);
  if (quiet && set_mode(s, &s->changed) < 0) {
    int e = errno;
    restore_signals(s);
    errno = e;
    return -1;
  }
  return 0;
}

/* The terminal first: a signal still pending when the mask is restored
 * (and that kills us) then finds the terminal as the user left it. */
static void session_end(struct session *s) {
  if (s->quiet) set_mode(s, &s->saved);
  restore_signals(s);
}

/*
 * Ctrl-Z: give the user their terminal back, stop as if we had no handler,
 * and take the prompt mode again once continued (SIGCONT). In an orphaned
 * process group the kernel discards the stop; we then just carry on.
 */
static void suspend(struct session *s) {
  if (s->quiet) set_mode(s, &s->saved);
  struct sigaction dfl, mine;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGTSTP, &dfl, &mine);
  sigset_t tstp;
  sigemptyset(&tstp);
  sigaddset(&tstp, SIGTSTP);
  sigprocmask(SIG_UNBLOCK, &tstp, NULL);
  raise(SIGTSTP); /* returns once we are continued */
  sigprocmask(SIG_BLOCK, &tstp, NULL);
  sigaction(SIGTSTP, &mine, NULL);
  if (s->quiet) set_mode(s, &s->changed);
}

/* The next byte typed, or why there is none. */
static enum status session_getc(struct session *s, unsigned char *c) {
  for (;;) {
    if (got_interrupt) return ST_INTERRUPTED;
    if (got_suspend) {
      got_suspend = 0;
      suspend(s);
      return ST_RESUMED;
    }
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int r = ppoll(&p, 1, NULL, &s->wait_mask);
    if (r < 0) {
      if (errno == EINTR) continue; /* the flags say which signal */
      s->err = errno;
      return ST_ERROR;
    }
    ssize_t n = read(s->fd, c, 1);
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

/* Erase the last character (a whole UTF-8 sequence) and its mask. */
static size_t erase_one(int fd, const char *mask, const char *buf, size_t len) {
  if (len == 0) return 0;
  do len--; while (len > 0 && is_continuation((unsigned char)buf[len]));
  if (mask) write_str(fd, "\b \b");
  return len;
}

static void draw_masks(int fd, const char *mask, const char *buf, size_t len) {
  if (!mask) return;
  for (size_t i = 0; i < len; i++)
    if (!is_continuation((unsigned char)buf[i])) write_str(fd, mask);
}

/*
 * A secret, read byte by byte with echo off: Enter ends it, Backspace and
 * Ctrl-U edit it, one mask (if any) is shown per character typed.
 */
static enum status read_secret(struct session *s, const char *message, const char *mask,
                               char *buf, size_t *len) {
  *len = 0;
  if (write_str(s->fd, message) < 0) {
    s->err = errno;
    return ST_ERROR;
  }
  for (;;) {
    unsigned char c;
    enum status st = session_getc(s, &c);
    if (st == ST_RESUMED) {
      write_str(s->fd, message);
      draw_masks(s->fd, mask, buf, *len);
      continue;
    }
    if (st != ST_OK) return st;
    if (c == '\r' || c == '\n') return ST_OK;
    if (c == 0x7f || c == 0x08 || is_cc(s, VERASE, c)) {
      *len = erase_one(s->fd, mask, buf, *len);
    } else if (c == 0x15 || is_cc(s, VKILL, c)) {
      while (*len > 0) *len = erase_one(s->fd, mask, buf, *len);
    } else if (c == 0x04 || is_cc(s, VEOF, c)) {
      if (*len == 0) return ST_EOF;
    } else if (c < 0x20) {
      /* other control bytes (Tab, Esc, ...) are not part of a secret */
    } else {
      if (*len == INPUT_MAX) return ST_TOO_LONG;
      buf[(*len)++] = (char)c;
      if (mask && !is_continuation(c)) write_str(s->fd, mask);
    }
  }
}

/* One line with the terminal's own echo and editing; no newline kept. */
static enum status read_line(struct session *s, const char *message, char *buf, size_t *len) {
  *len = 0;
  if (write_str(s->fd, message) < 0) {
    s->err = errno;
    return ST_ERROR;
  }
  for (;;) {
    unsigned char c;
    enum status st = session_getc(s, &c);
    if (st == ST_RESUMED) {
      /* the stop discarded the half-typed line; ask again */
      *len = 0;
      write_str(s->fd, message);
      continue;
    }
    if (st == ST_EOF && *len > 0) return ST_OK;
    if (st != ST_OK) return st;
    if (c == '\n' || c == '\r') return ST_OK;
    if (*len == INPUT_MAX) return ST_TOO_LONG;
    buf[(*len)++] = (char)c;
  }
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

/* The failure results: nil, message[, errno]. */
static int push_failure(lua_State *L, enum status st, int err) {
  lua_pushnil(L);
  switch (st) {
    case ST_INTERRUPTED: lua_pushliteral(L, "interrupted"); return 2;
    case ST_EOF: lua_pushliteral(L, "end of input"); return 2;
    case ST_TOO_LONG: lua_pushliteral(L, "input too long"); return 2;
    default: break;
  }
  lua_pushfstring(L, "terminal: %s", strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

static int no_terminal(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "no terminal");
  return 2;
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

/* prompt.secret(message[, opts]) -> string | nil, message[, errno] */
static int prompt_secret(lua_State *L) {
  const char *message = luaL_checkstring(L, 1);
  const char *mask = check_mask(L, 2);
  int fd = open_tty();
  if (fd < 0) return no_terminal(L);
  struct session s;
  char buf[INPUT_MAX];
  size_t len = 0;
  enum status st;
  if (session_begin(&s, fd, 1) < 0) {
    s.err = errno;
    st = ST_ERROR;
  } else {
    st = read_secret(&s, message, mask, buf, &len);
    write_str(fd, "\n");
    session_end(&s);
  }
  close(fd);
  int nres;
  if (st == ST_OK) {
    lua_pushlstring(L, buf, len);
    nres = 1;
  } else {
    nres = push_failure(L, st, s.err);
  }
  explicit_bzero(buf, sizeof buf);
  return nres;
}

/* prompt.line(message[, default]) -> string | nil, message[, errno] */
static int prompt_line(lua_State *L) {
  const char *message = luaL_checkstring(L, 1);
  size_t default_len = 0;
  const char *dflt = luaL_optlstring(L, 2, NULL, &default_len);
  int fd = open_tty();
  if (fd < 0) return no_terminal(L);
  struct session s;
  char buf[INPUT_MAX];
  size_t len = 0;
  enum status st;
  if (session_begin(&s, fd, 0) < 0) {
    s.err = errno;
    st = ST_ERROR;
  } else {
    st = read_line(&s, message, buf, &len);
    if (st != ST_OK) write_str(fd, "\n"); /* after a ^C, start a fresh line */
    session_end(&s);
  }
  close(fd);
  if (st != ST_OK) return push_failure(L, st, s.err);
  if (len == 0 && dflt)
    lua_pushlstring(L, dflt, default_len);
  else
    lua_pushlstring(L, buf, len);
  return 1;
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

/* prompt.confirm(message[, default=false]) -> boolean | nil, message[, errno] */
static int prompt_confirm(lua_State *L) {
  const char *message = luaL_checkstring(L, 1);
  int dflt = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    dflt = lua_toboolean(L, 2);
  }
  /* the question is built before the terminal is touched: it may raise */
  const char *question = lua_pushfstring(L, "%s%s", message, dflt ? " [Y/n] " : " [y/N] ");
  int fd = open_tty();
  if (fd < 0) return no_terminal(L);
  struct session s;
  char buf[INPUT_MAX];
  size_t len = 0;
  int answer = -1;
  enum status st = ST_OK;
  if (session_begin(&s, fd, 0) < 0) {
    s.err = errno;
    st = ST_ERROR;
  } else {
    for (int i = 0; i < CONFIRM_TRIES; i++) {
      if (i > 0) write_str(fd, "Please answer y or n.\n");
      st = read_line(&s, question, buf, &len);
      if (st != ST_OK) break;
      answer = parse_answer(buf, len, dflt);
      if (answer >= 0) break;
    }
    if (st != ST_OK) write_str(fd, "\n");
    session_end(&s);
  }
  close(fd);
  if (st != ST_OK) return push_failure(L, st, s.err);
  if (answer < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "no valid answer");
    return 2;
  }
  lua_pushboolean(L, answer);
  return 1;
}

/* prompt.isatty(stream) -> boolean; stream: "stdin"|"stdout"|"stderr"|fd */
static int prompt_isatty(lua_State *L) {
  static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
  int fd;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 0 || n > 0x7fffffff) {
      lua_pushboolean(L, 0);
      return 1;
    }
    fd = (int)n;
  } else {
    fd = luaL_checkoption(L, 1, NULL, names);
  }
  lua_pushboolean(L, isatty(fd));
  return 1;
}

static const luaL_Reg prompt_fns[] = {
  {"secret", prompt_secret},
  {"line", prompt_line},
  {"confirm", prompt_confirm},
  {"isatty", prompt_isatty},
  {NULL, NULL},
};

int luaopen_nt3_prompt(lua_State *L) {
  luaL_newlib(L, prompt_fns);
  return 1;
}
