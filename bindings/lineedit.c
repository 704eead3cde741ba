/*
 * nt3.lineedit: the line reader of `nt3 repl`
 * (docs/architecture.md, "The REPL"). Private: nt3.cli.repl is its one user.
 *
 * Line editing and history come from libedit (BSD licensed, Debian's
 * libedit2), loaded with dlopen the first time a REPL starts, as libcurl
 * is (bindings/http/curl.c): no other command pays for it, and without it
 * the REPL still works with a plain reader. No header is needed: the few
 * constants below are histedit.h's, which are libedit's stable ABI.
 *
 * Signals: while a line is read every signal that matters is blocked, and
 * the one wait for input (ppoll) is the only place it is delivered. So a
 * signal never lands inside libedit: the handler notes it, the read ends,
 * libedit puts the terminal back (cooked mode), and only then is the
 * signal acted on — Ctrl-C ends the line ("interrupted"), SIGTERM, SIGHUP
 * and SIGQUIT take their usual course with the terminal as it was
 * (docs/architecture.md, invariant 7), Ctrl-Z stops the process and the
 * line is taken up again after `fg`, and a resized window is redrawn.
 */
#include <dlfcn.h>
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <lauxlib.h>

#define READER_TYPE "nt3.lineedit.reader"
#define LINE_MAX_BYTES (1 << 20)
#define PROMPT_MAX 64
#define HISTORY_SIZE 1000

/* histedit.h */
typedef struct editline EditLine;
typedef struct historyW HistoryW;
typedef struct {
  // cppcheck-suppress unusedStructMember ; filled by libedit
  int num;
  // cppcheck-suppress unusedStructMember ; filled by libedit
  const wchar_t *str;
} HistEventW;
typedef struct {
  const wchar_t *buffer;
  // cppcheck-suppress unusedStructMember ; libedit's layout
  const wchar_t *cursor;
  const wchar_t *lastchar;
} LineInfoW;
enum { EL_PROMPT = 0, EL_EDITOR = 2, EL_SIGNAL = 3, EL_BIND = 4, EL_HIST = 10, EL_GETCFN = 13, EL_CLIENTDATA = 14 };
enum { H_SETSIZE = 1, H_ENTER = 10, H_SETUNIQUE = 20 };

struct libedit {
  EditLine *(*el_init)(const char *, FILE *, FILE *, FILE *);
  void (*el_end)(EditLine *);
  const wchar_t *(*el_wgets)(EditLine *, int *);
  int (*el_wset)(EditLine *, int, ...);
  int (*el_get)(EditLine *, int, void *);
  const LineInfoW *(*el_wline)(EditLine *);
  void (*el_wpush)(EditLine *, const wchar_t *);
  void (*el_resize)(EditLine *);
  HistoryW *(*history_winit)(void);
  void (*history_wend)(HistoryW *);
  int (*history_w)(HistoryW *, HistEventW *, int, ...);
};

struct reader {
  const struct libedit *lib; /* NULL: the plain reader */
  EditLine *el;
  HistoryW *hist;
  locale_t utf8;             /* what libedit measures characters with */
  sigset_t waitmask;         /* the mask ppoll waits with: the signals open */
  wchar_t prompt[PROMPT_MAX];
  char buf[4096];            /* the plain reader's bytes not yet taken */
  size_t have, at;
};

/* The signals a read blocks and waits for. */
static const int read_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGWINCH};
#define NSIGNALS (sizeof read_signals / sizeof read_signals[0])

/* The one global a signal handler needs: the last signal that came while a
 * read waited. Set only by the handler, cleared before each read. */
static volatile sig_atomic_t caught;

static void on_signal(int sig) { caught = sig; }

/* --- libedit, loaded on demand ----------------------------------------------- */

static const char *resolve(void *lib, struct libedit *api) {
#define RESOLVE(field, symbol) \
  if (!(*(void **)(&api->field) = dlsym(lib, symbol))) return symbol
  RESOLVE(el_init, "el_init");
  RESOLVE(el_end, "el_end");
  RESOLVE(el_wgets, "el_wgets");
  RESOLVE(el_wset, "el_wset");
  RESOLVE(el_get, "el_get");
  RESOLVE(el_wline, "el_wline");
  RESOLVE(el_wpush, "el_wpush");
  RESOLVE(el_resize, "el_resize");
  RESOLVE(history_winit, "history_winit");
  RESOLVE(history_wend, "history_wend");
  RESOLVE(history_w, "history_w");
#undef RESOLVE
  return NULL;
}

/* The library, loaded once a process (and never closed: the process ends
 * soon enough); NULL with *why set when it cannot be. */
static const struct libedit *libedit(const char **why) {
  static struct libedit api;
  static int state; /* 0 not tried, 1 loaded, -1 failed */
  static char reason[256];
  if (state == 0) {
    state = -1;
    const char *off = getenv("NT3_TEST_NO_LINEEDIT");
    void *lib = off && *off ? NULL : dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      snprintf(reason, sizeof reason, "libedit is not available: %s",
               off && *off ? "NT3_TEST_NO_LINEEDIT is set" : dlerror());
    } else {
      const char *missing = resolve(lib, &api);
      if (missing) {
        snprintf(reason, sizeof reason, "libedit is not available: it has no %s (too old?)", missing);
        dlclose(lib);
      } else {
        state = 1;
      }
    }
  }
  *why = reason;
  return state == 1 ? &api : NULL;
}

/* --- reading, with the signals of a read ------------------------------------- */

struct blocked {
  sigset_t oldmask;
  struct sigaction old[NSIGNALS];
  int installed[NSIGNALS];
};

/* Blocks the read's signals and catches those that are not ignored; the
 * wait mask opens them again. A signal someone ignores (`nt3 repl &`) stays
 * ignored. */
static void block_signals(struct reader *r, struct blocked *b) {
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < NSIGNALS; i++) sigaddset(&set, read_signals[i]);
  sigprocmask(SIG_BLOCK, &set, &b->oldmask);
  r->waitmask = b->oldmask;
  for (size_t i = 0; i < NSIGNALS; i++) {
    b->installed[i] = 0;
    if (sigaction(read_signals[i], NULL, &b->old[i]) < 0) continue;
    if (!(b->old[i].sa_flags & SA_SIGINFO) && b->old[i].sa_handler == SIG_IGN) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(read_signals[i], &sa, NULL) == 0) b->installed[i] = 1;
    sigdelset(&r->waitmask, read_signals[i]);
  }
  caught = 0;
}

static void unblock_signals(struct blocked *b) {
  for (size_t i = 0; i < NSIGNALS; i++)
    if (b->installed[i]) sigaction(read_signals[i], &b->old[i], NULL);
  sigprocmask(SIG_SETMASK, &b->oldmask, NULL);
}

/* Waits until fd can be read or a signal came: 1 readable, 0 a signal. */
static int wait_input(struct reader *r, int fd) {
  for (;;) {
    if (caught && caught != SIGWINCH) return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = ppoll(&p, 1, NULL, &r->waitmask);
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return 1; /* let read() say what is wrong */
    if (caught == SIGWINCH) {
      caught = 0;
      if (r->el) r->lib->el_resize(r->el);
    }
  }
}

/* One byte of standard input: 1, 0 at end of input, -1 on a signal or an
 * error (errno). */
static int read_byte(struct reader *r, unsigned char *c) {
  for (;;) {
    if (!wait_input(r, STDIN_FILENO)) {
      errno = EINTR;
      return -1;
    }
    ssize_t n = read(STDIN_FILENO, c, 1);
    if (n >= 0) return (int)n;
    if (errno != EINTR && errno != EAGAIN) return -1;
  }
}

/* How many bytes follow a UTF-8 lead byte c; -1 when c cannot lead. */
static int continuation_bytes(unsigned char c) {
  if (c < 0x80) return 0;
  if (c >= 0xc2 && c <= 0xdf) return 1;
  if (c >= 0xe0 && c <= 0xef) return 2;
  if (c >= 0xf0 && c <= 0xf4) return 3;
  return -1;
}

/* The reader whose editor el is: its client data. libedit calls el_getc
 * and el_prompt with the editor alone. */
static const struct libedit *client_lib; /* set once a reader was opened */

static struct reader *reader_of(EditLine *el) {
  struct reader *r = NULL;
  if (client_lib) client_lib->el_get(el, EL_CLIENTDATA, (void *)&r);
  return r;
}

/* libedit's getc: one character, decoded from UTF-8 here rather than by
 * the C library, so that nt3's "C" locale does not drop an é. */
static int el_getc(EditLine *el, wchar_t *wc) {
  struct reader *r = reader_of(el);
  unsigned char c;
  int n = read_byte(r, &c);
  if (n != 1) return n;
  unsigned long cp = c;
  int more = continuation_bytes(c);
  if (more < 0) cp = 0xfffd;
  if (more > 0) cp = c & (0x3f >> more);
  for (int i = 0; i < more; i++) {
    n = read_byte(r, &c);
    if (n != 1) return n;
    if ((c & 0xc0) != 0x80) {
      cp = 0xfffd;
      break;
    }
    cp = (cp << 6) | (c & 0x3f);
  }
  *wc = (wchar_t)cp;
  return 1;
}

static wchar_t *el_prompt(EditLine *el) {
  struct reader *r = reader_of(el);
  return r ? r->prompt : (wchar_t *)L"";
}

/* UTF-8 of n wide characters onto the buffer */
static void add_utf8(luaL_Buffer *b, const wchar_t *w, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned long cp = (unsigned long)w[i];
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
    if (cp < 0x80) {
      luaL_addchar(b, (char)cp);
    } else if (cp < 0x800) {
      luaL_addchar(b, (char)(0xc0 | (cp >> 6)));
      luaL_addchar(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      luaL_addchar(b, (char)(0xe0 | (cp >> 12)));
      luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
      luaL_addchar(b, (char)(0x80 | (cp & 0x3f)));
    } else {
      luaL_addchar(b, (char)(0xf0 | (cp >> 18)));
      luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
      luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
      luaL_addchar(b, (char)(0x80 | (cp & 0x3f)));
    }
  }
}

/* Wide characters of UTF-8 text s into w (at most cap - 1, then a NUL);
 * how many. A byte that is no UTF-8 becomes U+FFFD. */
static size_t from_utf8(const char *s, size_t len, wchar_t *w, size_t cap) {
  size_t n = 0, i = 0;
  while (i < len && n + 1 < cap) {
    unsigned char c = (unsigned char)s[i++];
    int more = continuation_bytes(c);
    unsigned long cp = more < 0 ? 0xfffd : more == 0 ? c : (unsigned long)(c & (0x3f >> more));
    for (int k = 0; k < more; k++) {
      if (i >= len || ((unsigned char)s[i] & 0xc0) != 0x80) {
        cp = 0xfffd;
        break;
      }
      cp = (cp << 6) | ((unsigned char)s[i++] & 0x3f);
    }
    w[n++] = (wchar_t)cp;
  }
  w[n] = 0;
  return n;
}

/* --- the reader ---------------------------------------------------------------- */

static struct reader *check_reader(lua_State *L) {
  struct reader *r = luaL_checkudata(L, 1, READER_TYPE);
  if (r->lib && !r->el) luaL_error(L, "the line reader is closed");
  return r;
}

/* nil, message, code: a read that gave no line */
static int no_line(lua_State *L, int sig, int err) {
  lua_pushnil(L);
  if (sig == SIGINT) {
    lua_pushliteral(L, "interrupted");
    lua_pushliteral(L, "interrupted");
  } else if (err) {
    lua_pushstring(L, strerror(err));
    lua_pushliteral(L, "failure");
  } else {
    lua_pushliteral(L, "end of input");
    lua_pushliteral(L, "end_of_input");
  }
  return 3;
}

/* A signal that ends or stops the process, taken with the terminal back
 * as it was and the signals as they were; returns once it is continued. */
static void take_signal(int sig) {
  struct sigaction now;
  if (sigaction(sig, NULL, &now) == 0 && !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN) return;
  raise(sig);
}

/* The plain reader: the terminal's own line editing (canonical mode), or
 * a pipe. Reads up to a newline. */
static int plain_read(lua_State *L, struct reader *r, const char *prompt) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t len = 0;
  struct blocked bl;
  int sig = 0, err = 0, eof = 0;
  block_signals(r, &bl);
  if (*prompt) {
    fputs(prompt, stdout);
    fflush(stdout);
  }
  for (;;) {
    if (r->at < r->have) {
      const char *nl = memchr(r->buf + r->at, '\n', r->have - r->at);
      size_t n = nl ? (size_t)(nl - (r->buf + r->at)) : r->have - r->at;
      if (len + n > LINE_MAX_BYTES) n = LINE_MAX_BYTES - len;
      luaL_addlstring(&b, r->buf + r->at, n);
      len += n;
      r->at += n + (nl ? 1 : 0);
      if (nl || len >= LINE_MAX_BYTES) break;
      continue;
    }
    if (!wait_input(r, STDIN_FILENO)) {
      sig = caught;
      break;
    }
    ssize_t n = read(STDIN_FILENO, r->buf, sizeof r->buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    r->at = 0;
    r->have = (size_t)n;
    if (n == 0) {
      eof = 1;
      break;
    }
  }
  unblock_signals(&bl);
  if (sig && sig != SIGINT) take_signal(sig);
  if (sig || err || (eof && len == 0)) return no_line(L, sig, err);
  luaL_pushresult(&b);
  return 1;
}

/* libedit's read: the line, or why there is none */
static int edit_read(lua_State *L, struct reader *r) {
  for (;;) {
    struct blocked bl;
    block_signals(r, &bl);
    locale_t before = r->utf8 ? uselocale(r->utf8) : (locale_t)0;
    int count = 0;
    const wchar_t *w = r->lib->el_wgets(r->el, &count);
    int err = w ? 0 : errno;
    int sig = caught;
    if (before) uselocale(before);
    unblock_signals(&bl);
    if (w && count > 0) {
      if (w[count - 1] == L'\n') count--;
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      add_utf8(&b, w, (size_t)count);
      luaL_pushresult(&b);
      return 1;
    }
    if (sig == SIGINT) return no_line(L, sig, 0);
    if (!sig) return no_line(L, 0, count < 0 && err != EINTR ? err : 0);
    /* SIGTSTP: stopped here; after `fg` the line is taken up again */
    const LineInfoW *li = r->lib->el_wline(r->el);
    size_t n = li ? (size_t)(li->lastchar - li->buffer) : 0;
    wchar_t *kept = n ? malloc((n + 1) * sizeof *kept) : NULL;
    if (kept) {
      wmemcpy(kept, li->buffer, n);
      kept[n] = 0;
    }
    fputc('\n', stdout);
    fflush(stdout);
    take_signal(sig);
    if (kept) {
      r->lib->el_wpush(r->el, kept);
      free(kept);
    }
  }
}

/* reader:read(prompt) -> line | nil, message, code ("interrupted": Ctrl-C;
 * "end_of_input": Ctrl-D or the end of a pipe; "failure") */
static int reader_read(lua_State *L) {
  struct reader *r = check_reader(L);
  size_t plen;
  const char *prompt = luaL_optlstring(L, 2, "", &plen);
  luaL_argcheck(L, plen < PROMPT_MAX, 2, "prompt too long");
  fflush(stdout);
  fflush(stderr);
  if (!r->lib) return plain_read(L, r, prompt);
  from_utf8(prompt, plen, r->prompt, PROMPT_MAX);
  return edit_read(L, r);
}

/* reader:add(line): a history entry (nothing for the plain reader) */
static int reader_add(lua_State *L) {
  struct reader *r = check_reader(L);
  size_t len;
  const char *line = luaL_checklstring(L, 2, &len);
  if (!r->lib || len == 0) return 0;
  wchar_t *w = lua_newuserdatauv(L, (len + 1) * sizeof *w, 0);
  from_utf8(line, len, w, len + 1);
  HistEventW ev;
  r->lib->history_w(r->hist, &ev, H_ENTER, w);
  return 0;
}

/* reader:close(): the editor let go (also when collected) */
static int reader_close(lua_State *L) {
  struct reader *r = luaL_checkudata(L, 1, READER_TYPE);
  if (r->el) {
    r->lib->el_end(r->el);
    r->el = NULL;
  }
  if (r->hist) {
    r->lib->history_wend(r->hist);
    r->hist = NULL;
  }
  if (r->utf8) {
    freelocale(r->utf8);
    r->utf8 = (locale_t)0;
  }
  return 0;
}

/* reader.kind: "libedit" or "plain" */
static int reader_index(lua_State *L) {
  struct reader *r = luaL_checkudata(L, 1, READER_TYPE);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "kind") == 0) {
    lua_pushstring(L, r->lib ? "libedit" : "plain");
    return 1;
  }
  luaL_getmetatable(L, READER_TYPE);
  lua_getfield(L, -1, key);
  return 1;
}

static struct reader *new_reader(lua_State *L) {
  struct reader *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  luaL_setmetatable(L, READER_TYPE);
  return r;
}

/* lineedit.plain() -> reader: lines as the terminal (or pipe) gives them */
static int lineedit_plain(lua_State *L) {
  new_reader(L);
  return 1;
}

/* lineedit.open() -> reader | nil, message, "unsupported": libedit on the
 * terminal that standard input and output are */
static int lineedit_open(lua_State *L) {
  const char *why = NULL;
  const struct libedit *lib = libedit(&why);
  if (!lib) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    lua_pushliteral(L, "unsupported");
    return 3;
  }
  struct reader *r = new_reader(L);
  r->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
  locale_t before = r->utf8 ? uselocale(r->utf8) : (locale_t)0;
  r->el = lib->el_init("nt3", stdin, stdout, stderr);
  if (before) uselocale(before);
  if (!r->el) return luaL_error(L, "libedit could not start");
  r->lib = lib;
  client_lib = lib;
  r->hist = lib->history_winit();
  if (r->hist) {
    HistEventW ev;
    lib->history_w(r->hist, &ev, H_SETSIZE, HISTORY_SIZE);
    lib->history_w(r->hist, &ev, H_SETUNIQUE, 1);
    lib->el_wset(r->el, EL_HIST, lib->history_w, r->hist);
  }
  lib->el_wset(r->el, EL_CLIENTDATA, (void *)r);
  lib->el_wset(r->el, EL_EDITOR, L"emacs");
  lib->el_wset(r->el, EL_SIGNAL, 0);
  lib->el_wset(r->el, EL_PROMPT, el_prompt);
  lib->el_wset(r->el, EL_GETCFN, el_getc);
  lib->el_wset(r->el, EL_BIND, L"^R", L"em-inc-search-prev", (wchar_t *)NULL);
  return 1;
}

static const luaL_Reg reader_methods[] = {
  {"read", reader_read},
  {"add", reader_add},
  {"close", reader_close},
  {"__gc", reader_close},
  {"__index", reader_index},
  {NULL, NULL},
};

/* lineedit.hold_interrupts(): from now on a Ctrl-C waits (SIGINT blocked)
 * for the next read, which takes it as the end of its line: between two
 * lines, while the REPL prints, no Ctrl-C finds SIGINT's default action. */
static int lineedit_hold_interrupts(lua_State *L) {
  (void)L;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  return 0;
}

/* lineedit.let_interrupts(): a Ctrl-C that waited is dropped (it came
 * before what is about to run), and the next one comes as it comes. */
static int lineedit_let_interrupts(lua_State *L) {
  (void)L;
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  int sig;
  if (sigpending(&pending) == 0 && sigismember(&pending, SIGINT)) sigwait(&set, &sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  return 0;
}

static const luaL_Reg lineedit_fns[] = {
  {"open", lineedit_open},
  {"plain", lineedit_plain},
  {"hold_interrupts", lineedit_hold_interrupts},
  {"let_interrupts", lineedit_let_interrupts},
  {NULL, NULL},
};

int luaopen_nt3_lineedit(lua_State *L) {
  if (luaL_newmetatable(L, READER_TYPE)) luaL_setfuncs(L, reader_methods, 0);
  lua_pop(L, 1);
  luaL_newlib(L, lineedit_fns);
  return 1;
}
