/*
 * The request engine: one libcurl multi handle per process (per Lua state),
 * so sequential requests to one origin reuse one connection (keep-alive,
 * HTTP/2 where offered) and a share handle keeps TLS sessions and DNS
 * answers for new connections; every transfer of the process moves
 * whenever any of them waits, which is what lets nt3.task run requests
 * side by side without threads.
 *
 * A transfer goes NEW -> WAITING -> RUNNING -> (WAITING again for a
 * redirect or a retry) ... -> DONE. Redirects are followed here, hop by
 * hop, so that the network policy (url.c) judges every URL before a
 * connection is made, and credentials never go to another origin; retries
 * wait their turn in WAITING, and a 429 pauses every transfer bound for
 * that origin.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "policy.h"
#include "runtime.h"

#define ENGINE_KEY "nt3.http.engine"   /* the engine of this state */
#define ENGINE_MT "nt3.http.engine.mt" /* its metatable */
#define SPARE_MAX 4
/* Response headers are held in memory; a server must not be able to make
 * us grow without bound through them. Below libcurl's own bound (300 KB in
 * all, from 7.88), so that this one is met first and says what it is. */
#define MAX_HEADER_BYTES (256 * 1024)
/* What a response that is not streamed may hold when the caller set no
 * bound (a streamed request has none; its error answers still have one). */
#define BUFFERED_MAX (16 * 1024 * 1024)
/* Backoff between retries: 0.5 s, 1 s, 2 s ... at most 8 s, with jitter. */
#define BACKOFF_BASE 0.5
#define BACKOFF_CAP 8.0

#define E_INVALID_URL "invalid_url"
#define E_REFUSED_URL "refused_url"
#define E_TIMEOUT "timeout"
#define E_UNTRUSTED "untrusted_certificate"
#define E_TLS "tls"
#define E_CONNECT "connect"
#define E_RESOLVE "resolve"
#define E_TOO_LARGE "too_large"
#define E_REDIRECTS "too_many_redirects"
#define E_NETWORK "network"
#define E_UNSUPPORTED "unsupported"
#define E_RATE_LIMITED "rate_limited"
#define E_SINK "sink"
#define E_OUTPUT "output"
#define E_PERMISSION "permission"

struct pause {
  char *origin;
  double until;
};

struct engine {
  const struct curl_api *api;
  CURLM *multi;
  CURLSH *share;
  struct transfer *list; /* WAITING and RUNNING transfers */
  int running;           /* of them, in the multi handle */
  struct pause *pauses;
  size_t npauses;
  CURL *spare[SPARE_MAX];
  int nspare;
  lua_State *L; /* the thread driving the engine, for callbacks */
  int driving;
  unsigned long long rng;
  long live;         /* transfers in the list */
  long maxconnects;  /* the pool's size now, grown with live */
  long maxbound;     /* and its bound (NT3_MAX_CONNECTIONS) */
};

/* ---------------------------------------------------------------------------
 * small things
 * ------------------------------------------------------------------------- */

void nt3_buffer_free(struct buffer *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->overflowed = 0;
}

/* Appends unless that would pass the limit; 0 (and overflowed) if it would. */
int nt3_buffer_add(struct buffer *b, const char *data, size_t n) {
  if (n > b->limit - b->len) {
    b->overflowed = 1;
    return 0;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return 0;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
  return 1;
}

/* Text from outside (a URL, a Location) fit for a one-line message. */
static const char *printable(char *buf, size_t size, const char *s) { return nt3_http_printable(buf, size, s, 200); }

static int set_error(struct transfer *t, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->message, sizeof t->message, fmt, ap);
  va_end(ap);
  t->code = code;
  return -1;
}

static double jitter(struct engine *e) {
  /* xorshift: the jitter only spreads retries apart, it guards nothing */
  e->rng ^= e->rng << 13;
  e->rng ^= e->rng >> 7;
  e->rng ^= e->rng << 17;
  return (double)(e->rng >> 11) / 9007199254740992.0;
}

static long to_ms(double seconds) {
  double ms = ceil(seconds * 1000.0);
  return ms < 1 ? 1 : ms > 2e9 ? 2000000000L : (long)ms;
}

static void pause_seconds(double s) {
  if (s <= 0) return;
  struct timespec ts;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------------------
 * the engine
 * ------------------------------------------------------------------------- */

static int engine_gc(lua_State *L) {
  struct engine *e = luaL_checkudata(L, 1, ENGINE_MT);
  if (!e->api) return 0;
  /* at lua_close the transfers still in flight may be finalized after the
   * engine: they give their handles back now and are left on their own */
  for (struct transfer *t = e->list, *next; t; t = next) {
    next = t->next;
    if (t->easy) {
      if (t->state == T_RUNNING) e->api->multi_remove_handle(e->multi, t->easy);
      e->api->easy_cleanup(t->easy);
      t->easy = NULL;
    }
    t->state = T_DONE;
    t->prev = t->next = NULL;
    t->eng = NULL;
  }
  e->list = NULL;
  for (int i = 0; i < e->nspare; i++) e->api->easy_cleanup(e->spare[i]);
  e->nspare = 0;
  if (e->multi) e->api->multi_cleanup(e->multi);
  if (e->share) e->api->share_cleanup(e->share);
  for (size_t i = 0; i < e->npauses; i++) free(e->pauses[i].origin);
  free(e->pauses);
  e->multi = NULL;
  e->share = NULL;
  e->pauses = NULL;
  e->npauses = 0;
  e->api = NULL;
  return 0;
}

static void registry_table(lua_State *L, const char *key, const char *mode) {
  lua_newtable(L);
  if (mode) {
    lua_createtable(L, 0, 1);
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, key);
}

/* NT3_MAX_CONNECTIONS: how many connections the pool may keep (a whole
 * number, 1 to 65536); 256 otherwise, or when it is not such a number. */
static long pool_bound(void) {
  const char *v = getenv("NT3_MAX_CONNECTIONS");
  char *end = NULL;
  long n = v && *v ? strtol(v, &end, 10) : 0;
  return end && !*end && n >= 1 && n <= 65536 ? n : 256;
}

struct engine *nt3_engine(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, ENGINE_KEY) == LUA_TUSERDATA) {
    struct engine *e = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return e;
  }
  lua_pop(L, 1);
  const struct curl_api *api = nt3_curl(L);
  if (!api) return NULL;
  struct engine *e = lua_newuserdatauv(L, sizeof *e, 0);
  memset(e, 0, sizeof *e);
  if (luaL_newmetatable(L, ENGINE_MT)) {
    lua_pushcfunction(L, engine_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  e->api = api;
  e->multi = api->multi_init();
  e->share = api->share_init();
  if (!e->multi || !e->share) {
    engine_gc(L);
    luaL_error(L, "not enough memory");
  }
  /* No HTTP/2 multiplexing: with libcurl 7.88 (Debian bookworm) streams
   * sharing a connection stall now and then at 196608 bytes until their
   * timeout (engine_spec reproduces it one round in ten). Each transfer in
   * flight has a connection of its own, HTTP/2 or not; the pool keeps them. */
  api->multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
  /* libcurl keeps 4 idle connections per handle in use, and a finished
   * transfer's handle is no longer in use: its pool would shrink to
   * nothing between two rounds of tasks */
  e->maxconnects = 32;
  e->maxbound = pool_bound();
  if (e->maxbound < e->maxconnects) e->maxconnects = e->maxbound;
  api->multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, e->maxconnects);
  api->share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  api->share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  e->rng = (unsigned long long)(nt3_monotonic() * 1e9) ^ ((unsigned long long)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
  if (!e->rng) e->rng = 1;
  lua_setfield(L, LUA_REGISTRYINDEX, ENGINE_KEY);
  registry_table(L, NT3_HTTP_LIVE, NULL);
  registry_table(L, NT3_HTTP_FINISHED, NULL);
  return e;
}

int nt3_engine_busy(const struct engine *e) { return e->list != NULL; }

const struct curl_api *nt3_engine_api(const struct engine *e) { return e->api; }

struct engine *nt3_engine_if_any(lua_State *L) {
  struct engine *e = NULL;
  if (lua_getfield(L, LUA_REGISTRYINDEX, ENGINE_KEY) == LUA_TUSERDATA) e = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return e && e->api ? e : NULL;
}

/* The pool holds at least a connection for every transfer in flight, up
 * to its bound: with a smaller pool than transfers, each one that finishes
 * finds the cache full and closes its connection, and the next request
 * reconnects (5,000 GETs at concurrency 40 opened 538 connections with a
 * pool of 32). */
static void pool_fits(struct engine *e) {
  if (e->live <= e->maxconnects || e->maxconnects >= e->maxbound) return;
  e->maxconnects = e->live < e->maxbound ? e->live : e->maxbound;
  e->api->multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, e->maxconnects);
}

static void list_add(struct engine *e, struct transfer *t) {
  t->prev = NULL;
  t->next = e->list;
  if (e->list) e->list->prev = t;
  e->list = t;
  e->live++;
  pool_fits(e);
}

static void list_remove(struct engine *e, struct transfer *t) {
  if (!t->prev && e->list != t) return; /* not in the list */
  if (t->prev) t->prev->next = t->next;
  else e->list = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  e->live--;
}

/* When transfers to an origin may start again after a 429 (0: now). */
static double paused_until(const struct engine *e, const char *origin) {
  for (size_t i = 0; origin && i < e->npauses; i++)
    if (strcmp(e->pauses[i].origin, origin) == 0) return e->pauses[i].until;
  return 0;
}

static void pause_origin(struct engine *e, const char *origin, double until) {
  if (!origin) return;
  for (size_t i = 0; i < e->npauses; i++)
    if (strcmp(e->pauses[i].origin, origin) == 0) {
      if (until > e->pauses[i].until) e->pauses[i].until = until;
      return;
    }
  struct pause *p = realloc(e->pauses, (e->npauses + 1) * sizeof *p);
  char *o = strdup(origin);
  if (!p || !o) { /* no pause then: only the one transfer waits */
    if (p) e->pauses = p;
    free(o);
    return;
  }
  e->pauses = p;
  e->pauses[e->npauses].origin = o;
  e->pauses[e->npauses].until = until;
  e->npauses++;
}

/* ---------------------------------------------------------------------------
 * writing a streamed body
 * ------------------------------------------------------------------------- */

/* What req.output may be: a regular file, replaced atomically, which keeps
 * the mode it had (a new one gets 0666 less the umask, as with curl); or a
 * character device or FIFO, written through (`-o /dev/null`). A symlink,
 * a directory or anything else there is refused (docs/lua-api.md,
 * "Streaming a body"). */
#define OUTPUT_MODE 0666
#define OUTPUT_FLAGS (NT3_ATOMIC_THROUGH | NT3_ATOMIC_KEEP_MODE | NT3_ATOMIC_UMASK)

static int output_failed(struct transfer *t, int err) {
  const char *why = err == NT3_ATOMIC_NOT_REGULAR
    ? "not a regular file, character device or FIFO; refusing to write through it"
    : strerror(err);
  return set_error(t, E_OUTPUT, "cannot write %s: %s", t->req.output, why);
}

static int write_output(struct transfer *t, const char *data, size_t len) {
  int e = t->out.active ? 0 : nt3_atomic_open(&t->out, t->req.output, OUTPUT_MODE, OUTPUT_FLAGS);
  if (!e) e = nt3_atomic_write(&t->out, data, len);
  return e;
}

static void discard_output(struct transfer *t) { nt3_atomic_abort(&t->out); }

/* The old file or the new one, never half of one: 0 or the failure. An
 * empty body has opened nothing yet: writing nothing opens it. */
static int commit_output(struct transfer *t) {
  int e = write_output(t, "", 0);
  if (e) {
    discard_output(t);
    return e;
  }
  return nt3_atomic_commit(&t->out);
}

/* ---------------------------------------------------------------------------
 * libcurl's callbacks
 * ------------------------------------------------------------------------- */


/* Hands a chunk to the caller's sink function. A sink that raises stops
 * the transfer with its message. It runs inside libcurl, so it can
 * neither yield nor make a request. */
static int call_sink(struct transfer *t, const char *data, size_t n) {
  lua_State *L = t->eng->L;
  luaL_checkstack(L, 3, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->sink_ref);
  lua_pushlstring(L, data, n);
  if (lua_pcall(L, 1, 0, 0) == LUA_OK) return 1;
  const char *msg = lua_tostring(L, -1);
  set_error(t, E_SINK, "the sink failed: %s", msg ? msg : "(an error that is not a string)");
  lua_pop(L, 1);
  t->sink_failed = 1;
  return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp) {
  struct transfer *t = userp;
  size_t len = size * n;
  t->last_activity = nt3_monotonic();
  if (t->deliver < 0) {
    long status = 0;
    t->eng->api->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    /* only a final success is streamed; anything else is kept (bounded)
     * for its error message */
    t->deliver = (t->req.output || t->req.has_sink) && status >= 200 && status <= 299;
  }
  if (!t->deliver) return nt3_buffer_add(&t->body_buf, data, len) ? len : 0;
  t->streamed += len;
  if (t->req.max_size > 0 && t->streamed > (size_t)t->req.max_size) {
    t->body_buf.overflowed = 1;
    return 0;
  }
  if (t->req.has_sink) return call_sink(t, data, len) ? len : 0;
  int e = write_output(t, data, len);
  if (e) {
    output_failed(t, e);
    t->write_failed = 1;
    return 0;
  }
  return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp) {
  struct transfer *t = userp;
  t->last_activity = nt3_monotonic();
  /* a new status line: what came before was an interim (1xx) response */
  if (size * n >= 5 && memcmp(data, "HTTP/", 5) == 0) t->head.len = 0;
  return nt3_buffer_add(&t->head, data, size * n) ? size * n : 0;
}

/*
 * The stall check. curl's own LOW_SPEED_LIMIT/TIME judges an average over a
 * window of several seconds, so a server that sends a few bytes and then
 * goes silent is not caught for a long while. Instead, every byte in
 * either direction (and every response header) restarts the clock.
 * Connecting, TLS handshake included, is connect_timeout's business, so
 * the clock starts after it.
 */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  struct transfer *t = userp;
  (void)dltotal;
  (void)ultotal;
  double now = nt3_monotonic();
  /* a streamed request has no total bound once its body flows (curl's is
   * off, see setup_hop): `timeout` covers everything up to the body */
  if ((t->req.output || t->req.has_sink) && t->deliver != 1 && now >= t->deadline) {
    t->timed_out = 1;
    return 1;
  }
  curl_off_t ready = 0;
  t->eng->api->easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &ready);
  if (ready == 0 || dlnow != t->last_dl || ulnow != t->last_ul) {
    t->last_dl = dlnow;
    t->last_ul = ulnow;
    t->last_activity = now;
    return 0;
  }
  if (now - t->last_activity >= t->req.stall_timeout) {
    t->stalled = 1;
    return 1; /* aborts the transfer */
  }
  return 0;
}

/* ---------------------------------------------------------------------------
 * one hop
 * ------------------------------------------------------------------------- */

static int is_idempotent(const struct transfer *t) {
  static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", NULL};
  for (int i = 0; safe[i]; i++)
    if (strcmp(t->method, safe[i]) == 0) return 1;
  /* POST and PATCH only when the caller made repeating them harmless */
  return t->req.has_idempotency_key;
}

#define SET(opt, val) \
  if ((rc = api->easy_setopt(h, opt, val)) != CURLE_OK) return rc

static CURLcode setup_hop(struct transfer *t, CURL *h, double budget) {
  const struct curl_api *api = t->eng->api;
  const struct request *req = &t->req;
  CURLcode rc;
  t->errbuf[0] = '\0';
  SET(CURLOPT_PRIVATE, (void *)t);
  SET(CURLOPT_SHARE, t->eng->share);
  SET(CURLOPT_ERRORBUFFER, t->errbuf);
  SET(CURLOPT_CURLU, t->url);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if (req->cafile) SET(CURLOPT_CAINFO, req->cafile);
  /* the proxy is nt3's decision (proxy.c), libcurl's own reading of the
   * environment is off: loopback traffic never goes through one (the
   * plain-http exception is only safe if the bytes stay on this machine),
   * and a failure can name the machine it is about */
  SET(CURLOPT_PROXY, t->proxy ? t->proxy : "");
  SET(CURLOPT_NOPROXY, "");
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  /* a streamed body may take as long as it takes while it keeps moving:
   * stall_timeout bounds it, and on_progress the time until it starts */
  SET(CURLOPT_TIMEOUT_MS, req->output || req->has_sink ? 0L : to_ms(budget));
  SET(CURLOPT_CONNECTTIMEOUT_MS, to_ms(req->connect_timeout));
  SET(CURLOPT_NOPROGRESS, 0L);
  SET(CURLOPT_XFERINFOFUNCTION, on_progress);
  SET(CURLOPT_XFERINFODATA, (void *)t);
  if (req->max_size > 0) SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_size);
  /* libcurl sends a request again, on a new connection, when a reused one
   * dies before any answer: harmless only if the request is idempotent.
   * Any other goes out once, on a connection of its own. */
  if (!is_idempotent(t)) SET(CURLOPT_FRESH_CONNECT, 1L);
  SET(CURLOPT_HTTPHEADER, t->cross_origin ? t->safe_headers : t->headers);
  /* a streamed body comes in pieces of 128 KiB rather than 16: an eighth of
   * the reads, and of the calls into a sink (measured on a 10 MB body:
   * 634 recvfrom against curl's 100) */
  if (req->output || req->has_sink) SET(CURLOPT_BUFFERSIZE, 131072L);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, (void *)t);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, (void *)t);
  if (nt3_debug_enabled()) {
    SET(CURLOPT_DEBUGFUNCTION, nt3_http_on_debug);
    SET(CURLOPT_VERBOSE, 1L);
  }
  if (strcmp(t->method, "HEAD") == 0) {
    SET(CURLOPT_NOBODY, 1L);
  } else if (strcmp(t->method, "GET") == 0 && !t->body) {
    SET(CURLOPT_HTTPGET, 1L);
  } else {
    if (t->body || strcmp(t->method, "POST") == 0) {
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(t->body ? t->body_len : 0));
      SET(CURLOPT_POSTFIELDS, t->body ? t->body : "");
    }
    if (strcmp(t->method, "POST") != 0) SET(CURLOPT_CUSTOMREQUEST, t->method);
  }
  return CURLE_OK;
}
#undef SET

static void release_easy(struct transfer *t) {
  struct engine *e = t->eng;
  if (!t->easy) return;
  if (t->state == T_RUNNING) {
    e->api->multi_remove_handle(e->multi, t->easy);
    e->running--;
  }
  e->api->easy_reset(t->easy);
  if (e->nspare < SPARE_MAX) e->spare[e->nspare++] = t->easy;
  else e->api->easy_cleanup(t->easy);
  t->easy = NULL;
}

static void finish(struct transfer *t);

/* Starts the current hop now. */
static void start_hop(struct transfer *t, double now) {
  struct engine *e = t->eng;
  const struct curl_api *api = e->api;
  double budget = t->deadline - now;
  if (budget <= 0) {
    set_error(t, E_TIMEOUT, "timed out after %.1f s following redirects (timeout)", t->req.timeout);
    finish(t);
    return;
  }
  char *host = nt3_http_part(api, t->url, CURLUPART_HOST, 0);
  char *scheme = nt3_http_part(api, t->url, CURLUPART_SCHEME, 0);
  t->loopback = host && nt3_is_loopback(host);
  free(t->proxy);
  t->proxy = nt3_http_proxy_for(scheme, host);
  free(host);
  free(scheme);
  t->head.len = t->body_buf.len = 0;
  t->head.overflowed = t->body_buf.overflowed = 0;
  t->head.limit = MAX_HEADER_BYTES;
  t->body_buf.limit = t->req.max_size > 0 ? (size_t)t->req.max_size : BUFFERED_MAX;
  t->last_dl = t->last_ul = 0;
  t->stalled = t->timed_out = 0;
  t->deliver = -1;
  t->streamed = 0;
  t->last_activity = now;
  t->easy = e->nspare ? e->spare[--e->nspare] : api->easy_init();
  if (!t->easy) {
    set_error(t, E_NETWORK, "not enough memory for a request");
    finish(t);
    return;
  }
  CURLcode rc = setup_hop(t, t->easy, budget);
  if (rc != CURLE_OK) {
    set_error(t, E_UNSUPPORTED, "libcurl refused an option: %s (libcurl 7.85 or later is needed)", api->easy_strerror(rc));
    finish(t);
    return;
  }
  CURLMcode mc = api->multi_add_handle(e->multi, t->easy);
  if (mc != CURLM_OK) {
    set_error(t, E_NETWORK, "cannot start the request: %s", api->multi_strerror(mc));
    finish(t);
    return;
  }
  e->running++;
  t->state = T_RUNNING;
}

/* ---------------------------------------------------------------------------
 * the end of a hop: done, redirected, or to be tried again
 * ------------------------------------------------------------------------- */

static int is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static int may_retry(const struct transfer *t) {
  return t->attempt < t->req.retries && is_idempotent(t) && t->deliver != 1;
}

/* Turns a failed hop into a message and a code. */
static void describe_failure(struct transfer *t, CURLcode rc) {
  const struct curl_api *api = t->eng->api;
  const struct request *req = &t->req;
  char *host = nt3_http_part(api, t->url, CURLUPART_HOST, 0);
  char *port = nt3_http_part(api, t->url, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  const char *h = host ? host : "?", *p = port ? port : "?";
  size_t e = strlen(t->errbuf);
  while (e > 0 && (t->errbuf[e - 1] == '\n' || t->errbuf[e - 1] == '\r')) t->errbuf[--e] = '\0';
  const char *detail = e ? t->errbuf : api->easy_strerror(rc);
  /* what a connection was attempted to: the proxy, when there is one */
  char place[300];
  if (t->proxy) {
    char at[280];
    snprintf(place, sizeof place, "proxy %s", nt3_http_proxy_place(api, t->proxy, at, sizeof at));
  } else {
    snprintf(place, sizeof place, "%s port %s", h, p);
  }

  if (t->sink_failed || t->write_failed) {
    /* the message is set already */
  } else if (rc == CURLE_FILESIZE_EXCEEDED || (rc == CURLE_WRITE_ERROR && t->body_buf.overflowed)) {
    set_error(t, E_TOO_LARGE, "response too large (more than %lld bytes)",
              (long long)(req->max_size > 0 ? req->max_size : BUFFERED_MAX));
  } else if (rc == CURLE_ABORTED_BY_CALLBACK && t->stalled) {
    set_error(t, E_TIMEOUT, "timed out: no data from %s port %s for %.1f s (stall_timeout)", h, p, req->stall_timeout);
  } else if (rc == CURLE_WRITE_ERROR && t->head.overflowed) {
    set_error(t, E_TOO_LARGE, "response headers too large (more than %d bytes)", MAX_HEADER_BYTES);
  } else if ((rc == CURLE_OUT_OF_MEMORY && t->deliver < 0) || (int)rc == 100 /* CURLE_TOO_LARGE, 8.6 */) {
    /* libcurl's own bound on one header line (100 KB) */
    set_error(t, E_TOO_LARGE, "response headers too large (a header line longer than libcurl accepts)");
  } else if (rc == CURLE_COULDNT_CONNECT) {
    long err = 0;
    api->easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &err);
    set_error(t, E_CONNECT, "could not connect to %s: %s", place, err ? strerror((int)err) : detail);
  } else if (rc == CURLE_OPERATION_TIMEDOUT || (rc == CURLE_ABORTED_BY_CALLBACK && t->timed_out)) {
    /* not CONNECT_TIME: on a reused connection it is 0 too; a request that
     * was never sent timed out connecting */
    curl_off_t sent = 0;
    api->easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &sent);
    if (sent == 0 && req->connect_timeout <= req->timeout)
      set_error(t, E_TIMEOUT, "timed out after %.1f s connecting to %s (connect_timeout)", req->connect_timeout, place);
    else
      set_error(t, E_TIMEOUT, "timed out after %.1f s waiting for %s port %s (timeout)", req->timeout, h, p);
  } else if (rc == CURLE_COULDNT_RESOLVE_PROXY && t->proxy) {
    char at[280];
    set_error(t, E_RESOLVE, "could not resolve proxy %s: %s", nt3_http_proxy_place(api, t->proxy, at, sizeof at), detail);
  } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
    set_error(t, E_RESOLVE, "could not resolve host \"%s\": %s", h, detail);
  } else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    set_error(t, E_UNTRUSTED, "TLS certificate not trusted for %s: %s%s", h, detail,
              req->cafile ? "" : " (for a private CA give cafile)");
  } else if (rc == CURLE_SSL_CACERT_BADFILE) {
    set_error(t, E_TLS, "could not use CA file \"%s\": %s", req->cafile ? req->cafile : "(default)", detail);
  } else if (rc == CURLE_SSL_CONNECT_ERROR) {
    set_error(t, E_TLS, "TLS handshake with %s port %s failed: %s", h, p, detail);
  } else if (rc == CURLE_GOT_NOTHING) {
    set_error(t, E_NETWORK, "%s port %s closed the connection without a response", h, p);
  } else {
    set_error(t, E_NETWORK, "request to %s port %s failed: %s", h, p, detail);
  }
  free(host);
  free(port);
}

/* "; 4 attempts, 2 min 3 s in all" after the last attempt's failure: its
 * own message gives one attempt's bound, not how long the caller waited. */
static void add_attempts(struct transfer *t) {
  double all = nt3_monotonic() - t->started;
  char took[32];
  if (all < 60) snprintf(took, sizeof took, "%.1f s", all);
  else snprintf(took, sizeof took, "%d min %d s", (int)(all / 60), (int)all % 60);
  size_t n = strlen(t->message);
  snprintf(t->message + n, sizeof t->message - n, "; %d attempts, %s in all", t->attempt + 1, took);
}

static int retriable_failure(const char *code) {
  return code && (strcmp(code, E_CONNECT) == 0 || strcmp(code, E_NETWORK) == 0 || strcmp(code, E_TIMEOUT) == 0);
}

static int retriable_status(long status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Queues the next attempt of the current hop after `wait` seconds. */
static void retry_later(struct transfer *t, double wait, const char *why) {
  t->attempt++;
  t->waited += wait;
  if (nt3_debug_enabled()) {
    char shown[600];
    nt3_http_trace("retrying %s %s in %.1f s (%s; attempt %d of %lld)", t->method,
                   nt3_http_display_url(t->eng->api, t->url, shown, sizeof shown), wait, why,
                   t->attempt + 1, (long long)t->req.retries + 1);
  }
  release_easy(t);
  t->code = NULL;
  t->message[0] = '\0';
  t->state = T_WAITING;
  t->due = nt3_monotonic() + wait;
  t->deadline = t->due + t->req.timeout;
}

static double backoff(struct transfer *t) {
  double wait = BACKOFF_BASE * pow(2.0, t->attempt);
  if (wait > BACKOFF_CAP) wait = BACKOFF_CAP;
  return wait * (0.5 + 0.5 * jitter(t->eng));
}

/* 303 always, and 301/302 after a POST, turn the request into a GET
 * without its body, as browsers and curl do. RFC 9110 allows that change
 * for POST only: a PUT or DELETE turned into a GET would come back 200
 * and look done when nothing was changed. */
static void method_after_redirect(struct transfer *t, long status) {
  if (status == 303 || ((status == 301 || status == 302) && strcmp(t->method, "POST") == 0)) {
    if (strcmp(t->method, "HEAD") != 0) t->method = "GET";
    t->body = NULL;
    t->body_len = 0;
  }
}

/* A URL has no place for a control byte or a space (RFC 3986), and what
 * libcurl makes of one in a relative Location depends on its version:
 * 7.88 refuses a control byte but percent-encodes a space, 8.x encodes
 * both into a path on the same origin. nt3 refuses both itself, before
 * libcurl parses the Location, so that every libcurl does the same. */
static int unfit_location(const char *location) {
  for (const unsigned char *p = (const unsigned char *)location; *p; p++)
    if (*p <= 0x20 || *p == 0x7f) return 1;
  return 0;
}

/* Moves the transfer to where a redirect points, if the policy allows
 * that URL. Returns 0, or -1 with the failure set. */
static int follow_redirect(struct transfer *t, long status, const char *location) {
  const struct curl_api *api = t->eng->api;
  char shown[600], why[600];
  if (unfit_location(location))
    return set_error(t, E_INVALID_URL, "redirect to \"%s\" refused: invalid URL (it holds a control character or a space)",
                     printable(shown, sizeof shown, location));
  CURLU *next = api->url_dup(t->url);
  if (!next) return set_error(t, E_NETWORK, "not enough memory");
  /* a relative Location is resolved against the current URL */
  CURLUcode uc = api->url_set(next, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK) {
    api->url_cleanup(next);
    return set_error(t, E_INVALID_URL, "redirect to \"%s\" refused: invalid URL (%s)",
                     printable(shown, sizeof shown, location), api->url_strerror(uc));
  }
  if (nt3_http_refuse_url(api, next, why, sizeof why)) {
    nt3_http_display_url(api, next, shown, sizeof shown);
    api->url_cleanup(next);
    return set_error(t, E_REFUSED_URL, "redirect to %s refused: %s", shown, why);
  }
  if (t->req.gate) {
    /* a sandbox judges every hop, by its parsed origin (gate.h) */
    char *origin = nt3_http_origin(api, next);
    int refused = !origin || t->req.gate->allow(t->req.gate, t->req.auth != NULL, t->method, origin, why, sizeof why);
    free(origin);
    if (refused) {
      nt3_http_display_url(api, next, shown, sizeof shown);
      api->url_cleanup(next);
      return set_error(t, E_PERMISSION, "redirect to %s refused: %s", shown, why);
    }
  }
  api->url_cleanup(t->url);
  t->url = next;
  method_after_redirect(t, status);
  int debug = nt3_debug_enabled();
  if (debug) nt3_http_trace("following %ld redirect to %s", status, nt3_http_display_url(api, t->url, shown, sizeof shown));
  free(t->hop_origin);
  t->hop_origin = nt3_http_origin(api, t->url);
  if (!t->cross_origin && (!t->hop_origin || strcmp(t->hop_origin, t->first_origin) != 0)) {
    t->cross_origin = 1; /* for this hop and every later one */
    if (debug)
      nt3_http_trace("%s is another origin: Authorization, Cookie and Proxy-Authorization not sent",
                     t->hop_origin ? t->hop_origin : "?");
  }
  return 0;
}

static void hop_done(struct transfer *t, CURLcode rc) {
  struct engine *e = t->eng;
  const struct curl_api *api = e->api;
  long status = 0;
  api->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  api->easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &t->version);
  t->status = status;

  if (rc != CURLE_OK) {
    describe_failure(t, rc);
    if (retriable_failure(t->code) && may_retry(t)) {
      double wait = backoff(t);
      if (t->waited + wait <= t->req.max_retry_wait) {
        retry_later(t, wait, t->message);
        return;
      }
    }
    if (t->attempt > 0) add_attempts(t);
    finish(t);
    return;
  }

  char *location = is_redirect(status) ? nt3_http_header(&t->head, "Location") : NULL;
  if (location && t->req.max_redirects > 0) {
    if (t->redirects >= t->req.max_redirects) {
      set_error(t, E_REDIRECTS, "too many redirects (more than %lld)", (long long)t->req.max_redirects);
    } else if (follow_redirect(t, status, location) == 0) {
      t->redirects++;
      free(location);
      release_easy(t);
      t->state = T_WAITING;
      t->due = 0;
      return;
    }
    free(location);
    finish(t);
    return;
  }
  free(location);

  if (retriable_status(status) && may_retry(t)) {
    double asked = nt3_http_retry_after(api, &t->head);
    double left = t->req.max_retry_wait - t->waited;
    if (asked > left) {
      set_error(t, E_RATE_LIMITED, "the server asked to wait %.0f s before trying again (HTTP %ld), longer than "
                "the %.0f s nt3 may still wait (max_retry_wait)", asked, status, left > 0 ? left : 0);
      finish(t);
      return;
    }
    double wait = asked >= 0 ? asked : backoff(t);
    if (wait <= left) {
      /* every transfer bound for this origin waits, not only this one */
      if (status == 429 || asked >= 0) pause_origin(e, t->hop_origin, nt3_monotonic() + wait);
      char why[32];
      snprintf(why, sizeof why, "HTTP %ld", status);
      retry_later(t, wait, why);
      return;
    }
  }

  if (t->req.output && status >= 200 && status <= 299) {
    int err = commit_output(t);
    if (err) output_failed(t, err);
    t->deliver = 1;
  }
  t->final_url = nt3_http_part(api, t->url, CURLUPART_URL, 0);
  finish(t);
}

/* ---------------------------------------------------------------------------
 * starting, finishing, freeing
 * ------------------------------------------------------------------------- */

static void unanchor(struct transfer *t) {
  lua_State *L = t->eng ? t->eng->L : NULL;
  if (!L) return;
  luaL_checkstack(L, 4, NULL);
  if (lua_getfield(L, LUA_REGISTRYINDEX, NT3_HTTP_LIVE) == LUA_TTABLE) {
    if (t->yielded && lua_getfield(L, LUA_REGISTRYINDEX, NT3_HTTP_FINISHED) == LUA_TTABLE) {
      lua_rawgetp(L, -2, t);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    if (t->yielded) lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawsetp(L, -2, t);
  }
  lua_pop(L, 1);
}

static void finish(struct transfer *t) {
  release_easy(t);
  if (t->code) discard_output(t);
  if (t->state != T_NEW) list_remove(t->eng, t);
  t->state = T_DONE;
  unanchor(t);
}

int nt3_transfer_begin(lua_State *L, struct engine *e, struct transfer *t) {
  const struct curl_api *api = e->api;
  char why[600];
  t->eng = e;
  t->api = api;
  t->state = T_NEW;
  t->method = t->req.method;
  t->body = t->req.body;
  t->body_len = t->req.body_len;
  t->url = api->url();
  if (!t->url) return luaL_error(L, "not enough memory");
  CURLUcode uc = api->url_set(t->url, CURLUPART_URL, t->req.url, CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK) {
    char shown[600];
    return set_error(t, E_INVALID_URL, "invalid URL \"%s\": %s", printable(shown, sizeof shown, t->req.url),
                     api->url_strerror(uc));
  }
  if (nt3_http_refuse_url(api, t->url, why, sizeof why)) return set_error(t, E_REFUSED_URL, "%s", why);
  t->first_origin = nt3_http_origin(api, t->url);
  t->hop_origin = nt3_http_origin(api, t->url);
  if (!t->first_origin || !t->hop_origin) return luaL_error(L, "not enough memory");
  if (t->req.gate && t->req.gate->allow(t->req.gate, t->req.auth != NULL, t->method, t->first_origin, why, sizeof why))
    return set_error(t, E_PERMISSION, "%s", why);
  t->state = T_WAITING;
  t->due = 0;
  t->started = nt3_monotonic();
  t->deadline = t->started + t->req.timeout;
  list_add(e, t);
  return 0;
}

void nt3_transfer_free(lua_State *L, struct transfer *t) {
  struct engine *e = t->eng && t->eng->api ? t->eng : NULL;
  const struct curl_api *api = t->api;
  if (!api) return;
  if (e) {
    release_easy(t);
    if (t->state == T_WAITING || t->state == T_RUNNING) list_remove(e, t);
  } else if (t->easy) {
    api->easy_cleanup(t->easy);
    t->easy = NULL;
  }
  t->state = T_DONE;
  if (t->url) api->url_cleanup(t->url);
  if (t->headers) api->slist_free_all(t->headers);
  if (t->safe_headers) api->slist_free_all(t->safe_headers);
  t->url = NULL;
  t->headers = t->safe_headers = NULL;
  free(t->first_origin);
  free(t->hop_origin);
  free(t->final_url);
  free(t->proxy);
  t->first_origin = t->hop_origin = t->final_url = t->proxy = NULL;
  nt3_buffer_free(&t->head);
  nt3_buffer_free(&t->body_buf);
  discard_output(t);
  if (L && t->sink_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, t->sink_ref);
  t->sink_ref = LUA_NOREF;
  t->eng = NULL;
  t->api = NULL;
}

/* ---------------------------------------------------------------------------
 * driving
 * ------------------------------------------------------------------------- */

static void start_due(struct engine *e, double now) {
  for (struct transfer *t = e->list, *next; t; t = next) {
    next = t->next;
    if (t->state != T_WAITING || t->due > now) continue;
    double until = paused_until(e, t->hop_origin);
    if (until > now) {
      t->due = until;
      t->deadline = until + t->req.timeout;
      continue;
    }
    start_hop(t, now);
  }
}

/* The earliest time a waiting transfer may start; 0 when none waits. */
static double next_due(const struct engine *e) {
  double best = 0;
  for (const struct transfer *t = e->list; t; t = t->next)
    if (t->state == T_WAITING && (best == 0 || t->due < best)) best = t->due > 0 ? t->due : 1e-9;
  return best;
}

static void collect(struct engine *e) {
  int left = 0;
  CURLMsg *m;
  while ((m = e->api->multi_info_read(e->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) continue;
    struct transfer *t = NULL;
    e->api->easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    if (t) hop_done(t, m->data.result);
  }
}

static int finished_waiting(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, NT3_HTTP_FINISHED);
  int any = lua_istable(L, -1) && lua_rawlen(L, -1) > 0;
  lua_pop(L, 1);
  return any;
}

static int reached(lua_State *L, const struct transfer *t) {
  return t ? t->state == T_DONE : finished_waiting(L);
}

void nt3_engine_run(lua_State *L, struct engine *e, struct transfer *t, double timeout) {
  if (e->driving)
    luaL_error(L, "nt3.http: a request cannot be made from inside a sink (it runs inside another request)");
  lua_State *outer = e->L;
  e->L = L;
  e->driving = 1;
  double deadline = timeout >= 0 ? nt3_monotonic() + timeout : HUGE_VAL;
  for (;;) {
    int running = 0;
    start_due(e, nt3_monotonic());
    e->api->multi_perform(e->multi, &running);
    collect(e);
    if (reached(L, t)) break;
    if (nt3_interrupt_pending()) break; /* Ctrl-C: Lua raises "interrupted" once back */
    double now = nt3_monotonic();
    if (now >= deadline) break;
    if (!e->list && !t && timeout < 0) break; /* nothing will ever finish */
    double wait = deadline - now, due = next_due(e);
    if (due > 0 && due - now < wait) wait = due > now ? due - now : 0;
    if (e->running > 0) {
      /* curl_multi_poll also wakes for libcurl's own timers */
      e->api->multi_poll(e->multi, NULL, 0, (int)(wait > 1.0 ? 1000 : to_ms(wait)), NULL);
    } else if (wait > 0) {
      pause_seconds(wait > 1.0 ? 1.0 : wait);
    }
  }
  e->driving = 0;
  e->L = outer;
}
