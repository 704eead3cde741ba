/*
 * The request engine: one libcurl multi handle per process (per Lua state),
 * so sequential requests to one origin reuse one connection (keep-alive,
 * HTTP/2 where offered) and a share handle keeps TLS sessions and DNS
 * answers for new connections; every transfer of the process moves
 * whenever any of them waits, which is what lets nt3.task run requests
 * side by side without threads.
 *
 * A transfer goes NEW -> WAITING -> RUNNING -> (WAITING again for a
 * redirect or a retry) ... -> DONE. This file moves transfers between
 * those states; what a redirect leads to is redirect.c's decision, whether
 * and when to try again retry.c's, and how a failure reads failure.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bigmem.h"
#include "internal.h"
#include "policy.h"
#include "runtime.h"
#include "sched.h"

#define ENGINE_KEY "nt3.http.engine"   /* the engine of this state */
#define ENGINE_MT "nt3.http.engine.mt" /* its metatable */
/* finished transfers' easy handles kept for the next ones: with fewer
 * spares than transfers that finish in one go, the rest were cleaned up
 * and made again (1,000 GETs at concurrency 10 over HTTP/2: 395 handles
 * made with 4 spares) */
#define SPARE_MAX 64
/* What every plain hop (plain_hop) sets alike: a spare handle set up for
 * the same is given only what differs from one hop to the next. */
struct plain_setup {
  unsigned id;     /* 0 until the first plain hop; a new one when the rest changes */
  char *cafile;    /* a copy, NULL: the system's */
  lua_Integer max_size;
};
struct engine {
  const struct curl_api *api;
  CURLM *multi;
  CURLSH *share;
  struct transfer *list; /* WAITING and RUNNING transfers */
  int running;           /* of them, in the multi handle */
  struct retries retries; /* backoff's jitter and the pauses after a 429 */
  CURL *spare[SPARE_MAX];
  unsigned spare_setup[SPARE_MAX]; /* the plain setup each spare keeps, 0: reset */
  int nspare;
  struct plain_setup plain;
  lua_State *L; /* the thread driving the engine, for callbacks */
  int driving;
  int multiplex;     /* HTTP/2 streams share a connection (multiplexing()) */
  long live;         /* transfers in the list */
  long maxconnects;  /* the pool's size now, grown with live */
  long maxbound;     /* and its bound (NT3_MAX_CONNECTIONS) */
  int debug;         /* NT3_DEBUG, read once (nt3 never changes its environment) */
};

/* ---------------------------------------------------------------------------
 * small things
 * ------------------------------------------------------------------------- */

void nt3_buffer_free(struct buffer *b) {
  nt3_mem_realloc(b->data, b->cap, 0);
  b->data = NULL;
  b->len = b->cap = 0;
  b->overflowed = 0;
}

/* A body of megabytes is written into fresh pages, and on a virtual machine
 * each first touch of a page is dear: a buffer that passes 1 MB becomes a
 * block in 2 MB pages (src/bigmem.c) and reserves up to its limit at once
 * (untouched pages cost nothing), so that it never moves again
 * (docs/architecture.md, "Large blocks"). */
#define RESERVE_MAX ((size_t)64 << 20) /* the most reserved ahead */

/* Appends unless that would pass the limit; 0 (and overflowed) if it would. */
int nt3_buffer_add(struct buffer *b, const char *data, size_t n) {
  if (n > b->limit - b->len) {
    b->overflowed = 1;
    return 0;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    if (cap > NT3_BIG_FROM / 2 && b->limit <= RESERVE_MAX && cap < b->limit) cap = b->limit;
    char *p = nt3_mem_realloc(b->data, b->cap, cap);
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



static long to_ms(double seconds) {
  double ms = ceil(seconds * 1000.0);
  return ms < 1 ? 1 : ms > 2e9 ? 2000000000L : (long)ms;
}


/* ---------------------------------------------------------------------------
 * the engine
 * ------------------------------------------------------------------------- */

static int engine_gc(lua_State *L) {
  struct engine *e = luaL_checkudata(L, 1, ENGINE_MT);
  if (!e->api) return 0;
  nt3_sched_set_poller(L, NULL);
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
  nt3_http_retries_free(&e->retries);
  free(e->plain.cafile);
  e->plain.cafile = NULL;
  e->multi = NULL;
  e->share = NULL;
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

static void engine_drive(lua_State *L, void *ud);
static double engine_due(void *ud);
static int engine_busy(void *ud);
static void engine_poll(void *ud, struct pollfd *fds, unsigned n, int ms);
/* HTTP/2 multiplexing (docs/architecture.md, "The request engine"): on,
 * except with a libcurl before 8.1.0. Its HTTP/2 receive code (replaced in
 * 8.1.0) stalls streams that share a connection: a stream stops a few KB
 * short of its end until its timeout. A C program driving libcurl 7.88.1's
 * multi interface the canonical way (no nt3 in it) stalled in 6 rounds of
 * 100 (6 streams of 200 kB) and 42 of 60 (1 MB each) against nghttpd; 8.14.1
 * in none of 1,300 rounds. With an older libcurl each transfer in flight
 * has a connection of its own, as before; the pool keeps them. */
static int multiplexing(const struct curl_api *api) {
  const curl_version_info_data *v = api->version_info(CURLVERSION_NOW);
  if (v && v->version_num >= 0x080100) return 1;
  if (nt3_debug_enabled())
    nt3_http_trace("HTTP/2 multiplexing off: libcurl %s (before 8.1.0) stalls streams that share a connection; "
                   "a connection per transfer instead", v && v->version ? v->version : "?");
  return 0;
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
  e->debug = nt3_debug_enabled();
  e->multiplex = multiplexing(api);
  api->multi_setopt(e->multi, CURLMOPT_PIPELINING, e->multiplex ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
  /* libcurl keeps 4 idle connections per handle in use, and a finished
   * transfer's handle is no longer in use: its pool would shrink to
   * nothing between two rounds of tasks */
  e->maxconnects = 32;
  e->maxbound = pool_bound();
  if (e->maxbound < e->maxconnects) e->maxconnects = e->maxbound;
  api->multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, e->maxconnects);
  api->share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  api->share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  nt3_http_retries_init(&e->retries);
  lua_setfield(L, LUA_REGISTRYINDEX, ENGINE_KEY);
  registry_table(L, NT3_HTTP_LIVE, NULL);
  struct nt3_poller p = {e, engine_drive, engine_due, engine_busy, engine_poll};
  nt3_sched_set_poller(L, &p);
  return e;
}

const struct curl_api *nt3_engine_api(const struct engine *e) { return e->api; }

lua_State *nt3_engine_thread(const struct engine *e) { return e->L; }

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



/* ---------------------------------------------------------------------------
 * libcurl's callbacks
 * ------------------------------------------------------------------------- */

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
  return nt3_stream_body(t, data, len) ? len : 0;
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
  if (nt3_stream_failed(t)) return 1; /* it failed outside libcurl (flush_streams) */
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
  /* a new transfer waits for a connection being opened to its origin, in
   * case it turns out HTTP/2, rather than opening one of its own (only
   * https: HTTP/2 comes by ALPN, plain http is never asked to upgrade) */
  if (t->pipewait) SET(CURLOPT_PIPEWAIT, 1L);
  /* every encoding this libcurl decodes is offered ("" is all of them), or
   * the caller's own Accept-Encoding (request.c takes it out of the header
   * lines), and libcurl decodes the body unless the caller asked for the
   * server's bytes: a compressed body never reaches a caller who did not */
  SET(CURLOPT_ACCEPT_ENCODING, req->accept_encoding ? req->accept_encoding : "");
  if (req->raw) SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
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
  if (!nt3_http_is_idempotent(t)) SET(CURLOPT_FRESH_CONNECT, 1L);
  SET(CURLOPT_HTTPHEADER, t->cross_origin ? t->safe_headers : t->headers);
  /* a streamed body comes in pieces of 128 KiB rather than 16: an eighth of
   * the reads, and of the calls into a sink (measured on a 10 MB body:
   * 634 recvfrom against curl's 100) */
  if (req->output || req->has_sink) SET(CURLOPT_BUFFERSIZE, 131072L);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, (void *)t);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, (void *)t);
  if (t->eng->debug) {
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

/* A plain hop: a GET without a body, decoded as libcurl decodes, kept (not
 * streamed), with no proxy and no trace. setup_hop gives every such hop
 * the same options but those setup_light sets, once its CA file and size
 * limit are the same too (same_plain). A spare handle keeps them from its
 * last plain hop (release_easy does not reset it): an easy reset and 18
 * options fewer a request, 5 % of the instructions of 1,000 GETs over
 * HTTP/2 (docs/architecture.md, "The request engine"). */
static int plain_hop(const struct transfer *t) {
  const struct request *r = &t->req;
  return !t->body && strcmp(t->method, "GET") == 0 && !r->accept_encoding && !r->raw && !r->output && !r->has_sink &&
         !t->proxy && !t->eng->debug;
}

static int same_plain(const struct engine *e, const struct transfer *t) {
  const char *a = e->plain.cafile, *b = t->req.cafile;
  return e->plain.id && e->plain.max_size == t->req.max_size && (a == b || (a && b && strcmp(a, b) == 0));
}

/* The plain setup t's hop was just given in full: the engine's, or a new
 * one (every spare of the old one is reset as it is taken). 0 when out of
 * memory: the handle is then reset when let go, as any other. */
static unsigned note_plain(struct engine *e, const struct transfer *t) {
  if (same_plain(e, t)) return e->plain.id;
  char *copy = t->req.cafile ? strdup(t->req.cafile) : NULL;
  if (t->req.cafile && !copy) return 0;
  free(e->plain.cafile);
  e->plain.cafile = copy;
  e->plain.max_size = t->req.max_size;
  if (++e->plain.id == 0) e->plain.id = 1;
  return e->plain.id;
}

/* What differs from one plain hop to the next (setup_hop sets the same). */
static CURLcode setup_light(struct transfer *t, CURL *h, double budget) {
  const struct curl_api *api = t->eng->api;
  CURLcode rc;
  t->errbuf[0] = '\0';
  SET(CURLOPT_PRIVATE, (void *)t);
  SET(CURLOPT_ERRORBUFFER, t->errbuf);
  /* the URL string libcurl made of the last hop's CURLU goes: before 8.x
   * (7.88) setting CURLOPT_CURLU again keeps it, and the hop would report
   * the last hop's URL as its own (CURLINFO_EFFECTIVE_URL) */
  SET(CURLOPT_URL, NULL);
  SET(CURLOPT_CURLU, t->url);
  SET(CURLOPT_PIPEWAIT, t->pipewait ? 1L : 0L); /* release_pipewait may have turned it off */
  SET(CURLOPT_TIMEOUT_MS, to_ms(budget));
  SET(CURLOPT_CONNECTTIMEOUT_MS, to_ms(t->req.connect_timeout));
  SET(CURLOPT_XFERINFODATA, (void *)t);
  SET(CURLOPT_HTTPHEADER, t->cross_origin ? t->safe_headers : t->headers);
  SET(CURLOPT_WRITEDATA, (void *)t);
  SET(CURLOPT_HEADERDATA, (void *)t);
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
  if (e->nspare < SPARE_MAX) {
    /* a plain hop's options stay for the next plain hop (start_hop) */
    if (!t->setup || t->setup != e->plain.id) {
      e->api->easy_reset(t->easy);
      t->setup = 0;
    }
    e->spare_setup[e->nspare] = t->setup;
    e->spare[e->nspare++] = t->easy;
  } else {
    e->api->easy_cleanup(t->easy);
  }
  t->easy = NULL;
  t->setup = 0;
}

static void finish(struct transfer *t);

/* Starts the current hop now. */
static void start_hop(struct transfer *t, double now) {
  struct engine *e = t->eng;
  const struct curl_api *api = e->api;
  double budget = t->deadline - now;
  if (budget <= 0) {
    nt3_http_fail(t, E_TIMEOUT, "timed out after %.1f s following redirects (timeout)", t->req.timeout);
    finish(t);
    return;
  }
  t->pipewait = e->multiplex && t->hop_scheme && strcmp(t->hop_scheme, "https") == 0;
  t->sent = 0;
  free(t->proxy);
  t->proxy = nt3_http_proxy_for(t->hop_scheme, t->hop_host);
  t->head.len = t->body_buf.len = t->gather.len = 0;
  t->head.overflowed = t->body_buf.overflowed = 0;
  t->head.limit = MAX_HEADER_BYTES;
  t->body_buf.limit = t->req.max_size > 0 ? (size_t)t->req.max_size : BUFFERED_MAX;
  t->last_dl = t->last_ul = 0;
  t->stalled = t->timed_out = 0;
  t->deliver = -1;
  t->streamed = 0;
  t->carry_len = 0;
  t->last_activity = now;
  int reused = e->nspare > 0;
  unsigned kept = 0; /* the plain setup the spare keeps */
  if (reused) {
    e->nspare--;
    kept = e->spare_setup[e->nspare];
  }
  t->easy = reused ? e->spare[e->nspare] : api->easy_init();
  t->setup = 0;
  if (!t->easy) {
    nt3_http_fail(t, E_NETWORK, "not enough memory for a request");
    finish(t);
    return;
  }
  int plain = plain_hop(t);
  CURLcode rc;
  if (plain && kept == e->plain.id && same_plain(e, t)) {
    rc = setup_light(t, t->easy, budget);
    t->setup = rc == CURLE_OK ? kept : 0;
  } else {
    if (kept) api->easy_reset(t->easy);
    rc = setup_hop(t, t->easy, budget);
    t->setup = rc == CURLE_OK && plain ? note_plain(e, t) : 0;
  }
  if (rc != CURLE_OK && reused) {
    /* libcurl before 8.7 keeps a handle's receive buffer when its transfer
     * ends on a connection other streams still use, and then refuses
     * CURLOPT_BUFFERSIZE on it: a fresh handle takes it */
    api->easy_cleanup(t->easy);
    t->easy = api->easy_init();
    rc = t->easy ? setup_hop(t, t->easy, budget) : CURLE_OUT_OF_MEMORY;
    t->setup = rc == CURLE_OK && plain ? note_plain(e, t) : 0;
  }
  if (rc != CURLE_OK) {
    nt3_http_fail(t, E_UNSUPPORTED, "libcurl refused an option: %s (libcurl 7.85 or later is needed)", api->easy_strerror(rc));
    finish(t);
    return;
  }
  CURLMcode mc = api->multi_add_handle(e->multi, t->easy);
  if (mc != CURLM_OK) {
    nt3_http_fail(t, E_NETWORK, "cannot start the request: %s", api->multi_strerror(mc));
    finish(t);
    return;
  }
  e->running++;
  t->state = T_RUNNING;
}

/* ---------------------------------------------------------------------------
 * the end of a hop: done, redirected, or to be tried again
 * ------------------------------------------------------------------------- */







/* Queues the next attempt of the current hop after `wait` seconds. */
static void retry_later(struct transfer *t, double wait, const char *why) {
  t->attempt++;
  t->waited += wait;
  if (t->eng->debug) {
    char shown[600];
    nt3_http_trace("retrying %s %s in %.1f s (%s; attempt %d of %lld)", t->method,
                   nt3_http_display_url(t->eng->api, t->url, shown, sizeof shown), wait, why,
                   t->attempt + 1, (long long)t->req.retries + 1);
  }
  release_easy(t);
  t->code = NULL;
  if (t->message) t->message[0] = '\0';
  t->state = T_WAITING;
  t->due = nt3_monotonic() + wait;
  t->deadline = t->due + t->req.timeout;
}





/* The URL that answered, as libcurl made it of t->url for the last hop
 * (CURLOPT_CURLU: CURLINFO_EFFECTIVE_URL is curl_url_get's full URL of
 * it, made once as the hop started): read, not made again, which cost as
 * much as the rest of collecting a response. */
static char *final_url(struct transfer *t) {
  const char *u = NULL;
  if (t->eng->api->easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &u) == CURLE_OK && u && *u) return strdup(u);
  return nt3_http_part(t->eng->api, t->url, CURLUPART_URL, 0);
}

static void hop_done(struct transfer *t, CURLcode rc) {
  struct engine *e = t->eng;
  const struct curl_api *api = e->api;
  long status = 0;
  if (!nt3_stream_flush(t) && rc == CURLE_OK) rc = CURLE_WRITE_ERROR; /* its message is set */
  api->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  api->easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &t->version);
  t->status = status;

  if (rc != CURLE_OK) {
    nt3_http_describe_failure(t, rc);
    if (nt3_http_retriable_failure(t->code) && nt3_http_may_retry(t)) {
      double wait = nt3_http_backoff(&e->retries, t->attempt);
      if (t->waited + wait <= t->req.max_retry_wait) {
        retry_later(t, wait, nt3_http_message(t));
        return;
      }
    }
    if (t->attempt > 0) nt3_http_add_attempts(t);
    finish(t);
    return;
  }

  char *location = nt3_http_is_redirect(status) ? nt3_http_header(&t->head, "Location") : NULL;
  if (location && t->req.max_redirects > 0) {
    if (t->redirects >= t->req.max_redirects) {
      nt3_http_fail(t, E_REDIRECTS, "too many redirects (more than %lld)", (long long)t->req.max_redirects);
    } else if (nt3_http_follow_redirect(t, status, location) == 0) {
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

  if (nt3_http_retriable_status(status) && nt3_http_may_retry(t)) {
    double asked = nt3_http_retry_after(api, &t->head);
    double left = t->req.max_retry_wait - t->waited;
    if (asked > left) {
      nt3_http_fail(t, E_RATE_LIMITED, "the server asked to wait %.0f s before trying again (HTTP %ld), longer than "
                "the %.0f s nt3 may still wait (max_retry_wait)", asked, status, left > 0 ? left : 0);
      finish(t);
      return;
    }
    double wait = asked >= 0 ? asked : nt3_http_backoff(&e->retries, t->attempt);
    if (wait <= left) {
      /* every transfer bound for this origin waits, not only this one */
      if (status == 429 || asked >= 0) nt3_http_pause_origin(&e->retries, t->hop_origin, nt3_monotonic() + wait);
      char why[32];
      snprintf(why, sizeof why, "HTTP %ld", status);
      retry_later(t, wait, why);
      return;
    }
  }

  /* the rest of a streamed body, and the output file put in place */
  if ((t->req.output || t->req.has_sink) && status >= 200 && status <= 299) {
    if (!nt3_stream_end(t)) {
      finish(t);
      return;
    }
    if (t->req.output) t->deliver = 1;
  }
  t->final_url = final_url(t);
  finish(t);
}

/* ---------------------------------------------------------------------------
 * starting, finishing, freeing
 * ------------------------------------------------------------------------- */

/* A done transfer wakes the task waiting for it, and is no longer kept
 * alive by the engine. */
static void unanchor(struct transfer *t) {
  lua_State *L = t->eng ? t->eng->L : NULL;
  if (!L) return;
  luaL_checkstack(L, 4, NULL);
  nt3_sched_wake(L, &t->waiter, &t->token);
  if (lua_getfield(L, LUA_REGISTRYINDEX, NT3_HTTP_LIVE) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_rawsetp(L, -2, t);
  }
  lua_pop(L, 1);
}

static void finish(struct transfer *t) {
  release_easy(t);
  if (t->code) nt3_stream_discard(t);
  if (t->state != T_NEW) list_remove(t->eng, t);
  t->state = T_DONE;
  unanchor(t);
}

void nt3_http_take_hop_parts(struct transfer *t, struct nt3_url_parts *p) {
  if (t->hop_scheme) t->api->free(t->hop_scheme);
  if (t->hop_host) t->api->free(t->hop_host);
  t->hop_scheme = p->scheme;
  t->hop_host = p->host;
  p->scheme = p->host = NULL;
  nt3_http_parts_free(p);
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
    return nt3_http_fail(t, E_INVALID_URL, "invalid URL \"%s\": %s", printable(shown, sizeof shown, t->req.url),
                     api->url_strerror(uc));
  }
  /* each part read once: the policy, the origin and every attempt's
   * start (start_hop) take them from here */
  struct nt3_url_parts p;
  nt3_http_parts_read(api, t->url, NT3_PARTS_ORIGIN | NT3_PARTS_USER, &p);
  if (nt3_http_parts_refuse(&p, why, sizeof why)) {
    nt3_http_parts_free(&p);
    return nt3_http_fail(t, E_REFUSED_URL, "%s", why);
  }
  t->first_origin = nt3_http_parts_origin(&p);
  nt3_http_take_hop_parts(t, &p);
  t->hop_origin = t->first_origin ? strdup(t->first_origin) : NULL;
  if (!t->first_origin || !t->hop_origin) return luaL_error(L, "not enough memory");
  if (t->req.gate && t->req.gate->allow(t->req.gate, t->req.auth != NULL, t->method, t->first_origin, why, sizeof why))
    return nt3_http_fail(t, E_PERMISSION, "%s", why);
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
  if (t->out_dir >= 0) close(t->out_dir);
  t->out_dir = -1;
  free(t->carry);
  t->carry = NULL;
  t->carry_len = 0;
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
  if (t->hop_scheme) api->free(t->hop_scheme);
  if (t->hop_host) api->free(t->hop_host);
  t->hop_scheme = t->hop_host = NULL;
  nt3_buffer_free(&t->head);
  nt3_buffer_free(&t->body_buf);
  nt3_buffer_free(&t->gather);
  nt3_stream_discard(t);
  if (L && t->sink_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, t->sink_ref);
  if (L) luaL_unref(L, LUA_REGISTRYINDEX, t->waiter);
  if (L) luaL_unref(L, LUA_REGISTRYINDEX, t->token);
  t->sink_ref = t->waiter = t->token = LUA_NOREF;
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
    double until = nt3_http_paused_until(&e->retries, t->hop_origin);
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

/* Whether t's hop still waits in libcurl's queue, no connection of its
 * own begun: its queue time is only counted once it leaves the queue
 * (CURLINFO_QUEUE_TIME_T, libcurl 8.6; before it, any transfer not yet
 * sent counts as waiting). */
static int queued(const struct engine *e, struct transfer *t) {
  curl_off_t q = 0;
  return e->api->easy_getinfo(t->easy, NT3_CURLINFO_QUEUE_TIME_T, &q) != CURLE_OK || q == 0;
}

static int origin_sent(const struct engine *e, const struct transfer *t) {
  for (const struct transfer *u = e->list; u; u = u->next)
    if (u != t && u->state == T_RUNNING && u->sent && strcmp(u->hop_origin, t->hop_origin) == 0) return 1;
  return 0;
}

/* libcurl 8.x holds a transfer with CURLOPT_PIPEWAIT in its queue while a
 * connection to its origin is being opened, and lets it go when a
 * transfer ends or a connection that multiplexes comes up. A connection
 * that turns out HTTP/1.1 and stays busy (a held request, a long poll)
 * would keep it there until its connect_timeout (docs/architecture.md,
 * "The request engine"). So once a connection to the origin is up and
 * carries a request, a transfer still queued for it is taken out and put
 * back without PIPEWAIT: it shares that connection if it multiplexes and
 * opens its own if not. Once per hop. Returns how many were put back. */
static int release_pipewait(struct engine *e) {
  int waiting = 0, released = 0;
  for (struct transfer *t = e->list; t; t = t->next) {
    if (t->state != T_RUNNING || t->sent) continue;
    curl_off_t ready = 0;
    e->api->easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &ready);
    if (ready > 0) t->sent = 1;
    else if (t->pipewait) waiting++;
  }
  if (!waiting) return 0;
  for (struct transfer *t = e->list, *next; t; t = next) {
    next = t->next;
    if (t->state != T_RUNNING || t->sent || !t->pipewait || !queued(e, t) || !origin_sent(e, t)) continue;
    if (e->debug) {
      char shown[600];
      nt3_http_trace("%s %s: the connection to its origin is up and does not take it; opening one of its own",
                     t->method, nt3_http_display_url(e->api, t->url, shown, sizeof shown));
    }
    t->pipewait = 0;
    e->api->multi_remove_handle(e->multi, t->easy);
    e->api->easy_setopt(t->easy, CURLOPT_PIPEWAIT, 0L);
    CURLMcode mc = e->api->multi_add_handle(e->multi, t->easy);
    if (mc != CURLM_OK) {
      e->running--;
      t->state = T_WAITING; /* out of the multi handle: release_easy must not take it out again */
      nt3_http_fail(t, E_NETWORK, "cannot start the request: %s", e->api->multi_strerror(mc));
      finish(t);
      continue;
    }
    released++;
  }
  return released;
}

/* What libcurl read of streamed bodies is handed on before the next wait;
 * a failure here stops its transfer at libcurl's next call (on_progress). */
static void flush_streams(struct engine *e) {
  for (struct transfer *t = e->list; t; t = t->next)
    if (t->state == T_RUNNING && t->gather.len > 0) nt3_stream_flush(t);
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

/* The engine as the one wait's poller (src/sched.h): it moves every
 * transfer, then waits on their sockets and the wait's own descriptors. */
static void engine_drive(lua_State *L, void *ud) {
  struct engine *e = ud;
  if (!e->api) return;
  if (e->driving)
    luaL_error(L, "nt3.http: a request cannot be made from inside a sink (it runs inside another request)");
  lua_State *outer = e->L;
  e->L = L;
  e->driving = 1;
  int running = 0;
  start_due(e, nt3_monotonic());
  e->api->multi_perform(e->multi, &running);
  flush_streams(e);
  collect(e);
  if (e->multiplex && release_pipewait(e)) {
    e->api->multi_perform(e->multi, &running);
    flush_streams(e);
    collect(e);
  }
  e->driving = 0;
  e->L = outer;
}

static double engine_due(void *ud) {
  struct engine *e = ud;
  return e->api ? next_due(e) : 0;
}

static int engine_busy(void *ud) {
  const struct engine *e = ud;
  return e->api && e->list != NULL;
}

static void engine_poll(void *ud, struct pollfd *fds, unsigned n, int ms) {
  struct engine *e = ud;
  struct curl_waitfd wfd[64];
  unsigned k = 0;
  /* past 64, the rest are looked at below, after at most the wait */
  for (; k < n && k < sizeof wfd / sizeof wfd[0]; k++) {
    wfd[k].fd = fds[k].fd;
    wfd[k].events = (fds[k].events & POLLOUT) ? CURL_WAIT_POLLOUT : CURL_WAIT_POLLIN;
    wfd[k].revents = 0;
  }
  /* curl_multi_poll also wakes for libcurl's own timers, and with no
   * transfer it waits the whole time, as poll does */
  e->api->multi_poll(e->multi, wfd, k, ms, NULL);
  /* libcurl reports POLLIN only, not a hang-up (a pipe whose writer is
   * gone): what the descriptors hold is asked once more, without waiting */
  if (n > 0) poll(fds, n, 0);
}
