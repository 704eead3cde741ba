/*
 * nt3.testing.socket: the listening socket under nt3.testing's fake API
 * server (docs/architecture.md, "The test kit"). Private to
 * lua/nt3/testing.lua; not part of the documented API.
 *
 * Only what Lua cannot do: a TCP socket bound to 127.0.0.1 (no other
 * address can be asked for), accept, read and write. Every descriptor is
 * non-blocking and close-on-exec, so a command the spec runs inherits
 * none. A call that would block waits in the one wait (src/sched.c): in a
 * task it yields, so the spec's own request, or the nt3 child it runs,
 * moves meanwhile; outside a task it waits there until the socket is
 * ready, the engine's transfers moving too. HTTP is read and written by
 * Lua; each read returns at most what the caller asked for (bounded).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>

#include "runtime.h"
#include "sched.h"

#define SOCKET_MT "nt3.testing.socket"
#define READ_MAX (1 << 20)

enum op { OP_ACCEPT, OP_READ, OP_WRITE };

struct sock {
  struct nt3_watch w; /* first: the one wait watches the descriptor */
  int fd;
  int listening;
};

static struct sock *check_open(lua_State *L, int i) {
  struct sock *s = luaL_checkudata(L, i, SOCKET_MT);
  if (s->fd < 0) luaL_argerror(L, i, "the socket is closed");
  return s;
}

static void sock_close(lua_State *L, struct sock *s) {
  nt3_sched_unwatch(L, &s->w);
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}

static int sock_gc(lua_State *L) {
  sock_close(L, luaL_checkudata(L, 1, SOCKET_MT));
  return 0;
}

static struct sock *new_sock(lua_State *L, int fd, int listening) {
  struct sock *s = lua_newuserdatauv(L, sizeof *s, 0);
  nt3_watch_init(&s->w);
  s->fd = fd;
  s->listening = listening;
  luaL_setmetatable(L, SOCKET_MT);
  return s;
}

static int failure(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

/* The step of the one wait: ready once poll says anything of the fd
 * (readable, writable, hung up, an error: the retried call tells which). */
static void sock_step(struct nt3_watch *w, double now) {
  (void)now;
  if (w->revents[0]) w->done = 1;
}

static int watch_done(lua_State *L, void *w) {
  (void)L;
  return ((struct nt3_watch *)w)->done;
}

/* Tries op once: pushes its results and returns their count, or returns
 * -1 when it would block. */
static int attempt(lua_State *L, struct sock *s, enum op op) {
  if (op == OP_ACCEPT) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return -1;
      return failure(L, errno);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    new_sock(L, fd, 0);
    return 1;
  }
  if (op == OP_READ) {
    lua_Integer max = luaL_checkinteger(L, 2);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)max);
    ssize_t n = read(s->fd, p, (size_t)max);
    if (n < 0) {
      int err = errno;
      luaL_pushresultsize(&b, 0);
      lua_pop(L, 1);
      if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return -1;
      if (err == ECONNRESET) {
        lua_pushliteral(L, ""); /* the peer is gone: as the end of the stream */
        return 1;
      }
      return failure(L, err);
    }
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
  }
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  lua_Integer from = luaL_optinteger(L, 3, 0);
  while ((size_t)from < len) {
    ssize_t n = send(s->fd, data + from, len - (size_t)from, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        lua_pushinteger(L, from);
        lua_replace(L, 3);
        return -1;
      }
      return failure(L, errno);
    }
    from += n;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int run_op(lua_State *L, enum op op);

static int resume_op(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  struct sock *s = luaL_checkudata(L, 1, SOCKET_MT);
  nt3_sched_unwatch(L, &s->w);
  /* cancelled (task.cancel, the server closed, Ctrl-C): raise it there */
  if (lua_gettop(L) >= 5 && lua_touserdata(L, 4) == nt3_sched_cancel_mark()) {
    lua_pushvalue(L, 5);
    return lua_error(L);
  }
  lua_settop(L, 3);
  return run_op(L, (enum op)ctx);
}

/* Runs op; while it would block, waits for the descriptor in the one wait.
 * Stack: socket, arg, arg (padded to 3). */
static int run_op(lua_State *L, enum op op) {
  struct sock *s = check_open(L, 1);
  for (;;) {
    int n = attempt(L, s, op);
    if (n >= 0) return n;
    if (s->w.listed) luaL_argerror(L, 1, "the socket is already waited on by another task");
    nt3_watch_init(&s->w);
    s->w.fds[0] = s->fd;
    s->w.events[0] = op == OP_WRITE ? POLLOUT : POLLIN;
    s->w.step = sock_step;
    nt3_sched_watch(L, &s->w);
    if (nt3_sched_task(L)) {
      s->w.waiter = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_pushvalue(L, 1);
      s->w.token = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_pushlightuserdata(L, nt3_sched_mark());
      lua_pushvalue(L, 1);
      return lua_yieldk(L, 2, (lua_KContext)op, resume_op);
    }
    nt3_sched_wait(L, -1, watch_done, &s->w);
    int done = s->w.done;
    nt3_sched_unwatch(L, &s->w);
    if (!done) return luaL_error(L, "interrupted");
    s = check_open(L, 1);
  }
}

/* socket.listen() -> listener | nil, message, errno: a TCP socket on
 * 127.0.0.1, on a port the kernel picks. */
static int socket_listen(lua_State *L) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return failure(L, errno);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
    int err = errno;
    close(fd);
    return failure(L, err);
  }
  new_sock(L, fd, 1);
  return 1;
}

/* listener:port() -> the port it listens on */
static int sock_port(lua_State *L) {
  struct sock *s = check_open(L, 1);
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (getsockname(s->fd, (struct sockaddr *)&a, &len) < 0) return failure(L, errno);
  lua_pushinteger(L, ntohs(a.sin_port));
  return 1;
}

/* listener:accept() -> connection | nil, message, errno */
static int sock_accept(lua_State *L) {
  struct sock *s = check_open(L, 1);
  luaL_argcheck(L, s->listening, 1, "not a listening socket");
  lua_settop(L, 3);
  return run_op(L, OP_ACCEPT);
}

/* connection:read(max) -> 1..max bytes, "" at the end | nil, message, errno */
static int sock_read(lua_State *L) {
  const struct sock *s = check_open(L, 1);
  luaL_argcheck(L, !s->listening, 1, "a listening socket is not read");
  lua_Integer max = luaL_checkinteger(L, 2);
  luaL_argcheck(L, max >= 1 && max <= READ_MAX, 2, "read from 1 byte to 1 MiB at a time");
  lua_settop(L, 3);
  return run_op(L, OP_READ);
}

/* connection:write(data) -> true | nil, message, errno (all of it is
 * written, in as many waits as the peer's reading takes) */
static int sock_write(lua_State *L) {
  const struct sock *s = check_open(L, 1);
  luaL_argcheck(L, !s->listening, 1, "a listening socket is not written");
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  lua_pushinteger(L, 0);
  return run_op(L, OP_WRITE);
}

/* socket:close(): idempotent; a task waiting on it is left to be
 * cancelled by its owner. */
static int sock_close_fn(lua_State *L) {
  sock_close(L, luaL_checkudata(L, 1, SOCKET_MT));
  return 0;
}

/* socket.exe() -> the path of the running nt3 binary | nil, message: what
 * nt3.testing runs a command with (nt3-asan under the ASan build). */
static int socket_exe(lua_State *L) {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n < 0) return failure(L, errno);
  lua_pushlstring(L, path, (size_t)n);
  return 1;
}

int luaopen_nt3_testing_socket(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"port", sock_port},
    {"accept", sock_accept},
    {"read", sock_read},
    {"write", sock_write},
    {"close", sock_close_fn},
    {NULL, NULL},
  };
  static const luaL_Reg fns[] = {
    {"listen", socket_listen},
    {"exe", socket_exe},
    {NULL, NULL},
  };
  if (luaL_newmetatable(L, SOCKET_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, sock_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, sock_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  return 1;
}
