/*
 * Where a streamed 2xx body goes: the `output` file, a file handle given
 * as `sink` (io.stdout), or a `sink` function
 * (docs/architecture.md, "The request engine", "Piping a body"). libcurl hands the body over a
 * TLS record at a time (8 to 16 KiB); it is gathered here into pieces of
 * up to STREAM_CHUNK, so that a file gets one write and a function one
 * call per piece. A sandbox's API body is masked on its way in
 * (nt3_http_mask_stream). engine.c decides when: on_body hands each
 * chunk to nt3_stream_body, the driver flushes what is gathered once
 * libcurl has read what there was, and hop_done ends the stream.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "runtime.h"

/* A sixteenth of the writes and of the calls into Lua that libcurl's own
 * chunks would cost (100 MB into a pipe: 12,800 writes, as curl makes,
 * become 800). */
#define STREAM_CHUNK (128 * 1024)

/* --- the output file ------------------------------------------------------ */

/* What req.output may be: a regular file, replaced atomically, which keeps
 * the mode it had (a new one gets 0666 less the umask, as with curl); or a
 * character device or FIFO, written through (`-o /dev/null`). A symlink,
 * a directory or anything else there is refused (docs/lua-api.md,
 * "Streaming a body"). */
#define OUTPUT_MODE 0666
#define OUTPUT_FLAGS (NT3_ATOMIC_THROUGH | NT3_ATOMIC_KEEP_MODE | NT3_ATOMIC_UMASK)
/* A sandbox's output, in the directory resolved beneath its root: a
 * regular file only, as every write beneath a root (src/atomic.h) */
#define BENEATH_OUTPUT_FLAGS (NT3_ATOMIC_KEEP_MODE | NT3_ATOMIC_UMASK)

static int output_failed(struct transfer *t, int err) {
  const char *why = err == NT3_ATOMIC_NOT_REGULAR
    ? "not a regular file, character device or FIFO; refusing to write through it"
    : strerror(err);
  t->write_failed = 1;
  return nt3_http_fail(t, E_OUTPUT, "cannot write %s: %s", t->req.output, why);
}

static int write_output(struct transfer *t, const char *data, size_t len) {
  int e = 0;
  struct nt3_atomic *out = &t->file->out;
  if (!out->active)
    e = t->out_dir >= 0 ? nt3_atomic_openat(out, t->out_dir, t->file->name, OUTPUT_MODE, BENEATH_OUTPUT_FLAGS)
                        : nt3_atomic_open(out, t->req.output, OUTPUT_MODE, OUTPUT_FLAGS);
  if (!e) e = nt3_atomic_write(out, data, len);
  return e;
}

void nt3_stream_discard(struct transfer *t) {
  if (t->file) nt3_atomic_abort(&t->file->out);
}

/* The old file or the new one, never half of one: 0 or the failure. An
 * empty body has opened nothing yet: writing nothing opens it. */
static int commit_output(struct transfer *t) {
  int e = write_output(t, "", 0);
  if (e) {
    nt3_stream_discard(t);
    return e;
  }
  return nt3_atomic_commit(&t->file->out);
}

/* --- a file handle as the sink -------------------------------------------- */

static int file_failed(struct transfer *t, const luaL_Stream *s, const char *why) {
  const char *name = s->f == stdout ? "standard output" : s->f == stderr ? "standard error" : "the sink's file";
  t->sink_failed = 1;
  return nt3_http_fail(t, E_SINK, "cannot write to %s: %s", name, why);
}

/* The piece goes to the handle's descriptor from C: no call into Lua, no
 * Lua string, one write(2) (stdio would split it: it fills its 4 KiB
 * buffer first, then writes the rest). What Lua wrote to the handle is
 * flushed first, every time (an empty buffer costs no system call), so
 * the order holds when a task writes to it while the body streams. The
 * handle is held by the transfer (sink_ref); one closed meanwhile is a
 * failure, never a write to whatever took its descriptor. A blocking
 * write waits for a slow reader as long as it takes, as curl's does; a
 * descriptor in non-blocking mode waits in poll instead. A closed pipe
 * with SIGPIPE at its default ends the process, as it does cat or curl's
 * parent shell expects; with SIGPIPE ignored it is EPIPE, a failure. */
static int to_file(struct transfer *t, const char *data, size_t n) {
  const luaL_Stream *s = t->req.sink_file;
  if (!s->closef) return file_failed(t, s, "the file was closed");
  if (fflush(s->f) != 0) return file_failed(t, s, strerror(errno));
  int fd = fileno(s->f);
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w > 0) {
      data += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, -1) >= 0 || (errno == EINTR && !nt3_interrupt_pending())) continue;
      if (errno == EINTR) return file_failed(t, s, "interrupted");
    }
    return file_failed(t, s, w < 0 ? strerror(errno) : "nothing was written");
  }
  return 0;
}

/* --- a function as the sink ----------------------------------------------- */

/* A sink that raises stops the transfer with its message; Ctrl-C landing
 * while it runs (the error is the code "interrupted" itself) stops it as an
 * interrupt, which the request raises (finish_request). It runs inside
 * libcurl, so it can neither yield nor make a request. */
static int to_function(struct transfer *t, const char *data, size_t n) {
  lua_State *L = nt3_engine_thread(t->eng);
  luaL_checkstack(L, 3, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->sink_ref);
  lua_pushlstring(L, data, n);
  if (lua_pcall(L, 1, 0, 0) == LUA_OK) return 0;
  const char *msg = lua_tostring(L, -1);
  if (lua_type(L, -1) == LUA_TSTRING && strcmp(msg, E_INTERRUPTED) == 0)
    nt3_http_fail(t, E_INTERRUPTED, "%s", E_INTERRUPTED);
  else
    nt3_http_fail(t, E_SINK, "the sink failed: %s", msg ? msg : "(an error that is not a string)");
  lua_pop(L, 1);
  t->sink_failed = 1;
  return -1;
}

/* --- gathering ---------------------------------------------------------- */

int nt3_stream_failed(const struct transfer *t) { return t->sink_failed || t->write_failed; }

/* 0, or -1 with the failure set */
static int hand_on(struct transfer *t, const char *data, size_t n) {
  if (t->req.has_sink == NT3_SINK_FILE) return to_file(t, data, n);
  if (t->req.has_sink == NT3_SINK_FUNCTION) return to_function(t, data, n);
  int e = write_output(t, data, n);
  return e ? output_failed(t, e) : 0;
}

int nt3_stream_flush(struct transfer *t) {
  if (nt3_stream_failed(t)) return 0;
  if (t->gather.len == 0) return 1;
  int ok = hand_on(t, t->gather.data, t->gather.len) == 0;
  t->gather.len = 0;
  return ok;
}

static int gather(struct transfer *t, const char *data, size_t len) {
  if (nt3_stream_failed(t)) return 0;
  if (t->gather.len + len > STREAM_CHUNK && !nt3_stream_flush(t)) return 0;
  if (len >= STREAM_CHUNK) return hand_on(t, data, len) == 0;
  t->gather.limit = STREAM_CHUNK;
  if (!nt3_buffer_add(&t->gather, data, len)) {
    t->sink_failed = 1;
    nt3_http_fail(t, E_NETWORK, "not enough memory for a streamed body");
    return 0;
  }
  return 1;
}

/* A sandbox's streamed API body (req.secret set): every copy of the token
 * masked, as nt3_http_push_result masks a kept one, across chunks too
 * (nt3_http_mask_stream); `last` hands on what was held back. 1, or 0 with
 * the failure set. */
static int gather_masked(struct transfer *t, const char *data, size_t len, int last) {
  size_t total = t->carry_len + len;
  char *buf = realloc(t->carry, total ? total : 1);
  if (!buf) {
    nt3_http_fail(t, E_NETWORK, "not enough memory for a streamed body");
    return 0;
  }
  memcpy(buf + t->carry_len, data, len);
  t->carry = buf;
  t->carry_len = total;
  size_t out = nt3_http_mask_stream(buf, total, t->req.secret, last);
  if (out == 0) return 1;
  int ok = gather(t, buf, out);
  memmove(buf, buf + out, total - out);
  t->carry_len = total - out;
  return ok;
}

int nt3_stream_body(struct transfer *t, const char *data, size_t len) {
  return t->req.secret ? gather_masked(t, data, len, 0) : gather(t, data, len);
}

int nt3_stream_end(struct transfer *t) {
  if (t->carry_len > 0 && !gather_masked(t, "", 0, 1)) return 0;
  if (!nt3_stream_flush(t)) return 0;
  if (t->req.output) {
    int err = commit_output(t);
    if (err) return output_failed(t, err), 0;
  }
  return 1;
}
