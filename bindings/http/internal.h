/*
 * nt3.http, inside: what the files of bindings/http/ share. One concern
 * per file: curl.c loads libcurl; request.c checks a request table;
 * url.c is the network policy on URLs; proxy.c which proxy a request
 * goes through; trace.c the NT3_DEBUG trace;
 * engine.c the connection pool, the transfers, retries and the scheduler's
 * wait; stream.c where a streamed body goes; response.c turns a finished transfer into Lua values; http.c is
 * the module itself.
 */
#ifndef NT3_HTTP_INTERNAL_H
#define NT3_HTTP_INTERNAL_H

#include <limits.h>
#include <stddef.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "atomic.h"
#include "gate.h"

/* --- curl.c: libcurl, loaded on first use ------------------------------- */

struct curl_api {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
  CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
  void (*easy_reset)(CURL *h);
  void (*easy_cleanup)(CURL *h);
  const char *(*easy_strerror)(CURLcode code);
  struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
  void (*slist_free_all)(struct curl_slist *list);
  CURLU *(*url)(void);
  CURLU *(*url_dup)(const CURLU *u);
  void (*url_cleanup)(CURLU *u);
  CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *s, unsigned int flags);
  CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **s, unsigned int flags);
  const char *(*url_strerror)(CURLUcode code);
  void (*free)(void *p);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
  CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
  CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
  CURLMcode (*multi_perform)(CURLM *m, int *running);
  CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd *fds, unsigned n, int timeout_ms, int *numfds);
  CURLMsg *(*multi_info_read)(CURLM *m, int *left);
  CURLMcode (*multi_cleanup)(CURLM *m);
  const char *(*multi_strerror)(CURLMcode code);
  CURLSH *(*share_init)(void);
  CURLSHcode (*share_setopt)(CURLSH *s, CURLSHoption opt, ...);
  CURLSHcode (*share_cleanup)(CURLSH *s);
  time_t (*getdate)(const char *s, const time_t *unused);
  curl_version_info_data *(*version_info)(CURLversion age);
};

/* The loaded library; NULL (with nil, message, code pushed) on failure. */
const struct curl_api *nt3_curl(lua_State *L);

/* --- request.c: the request table, checked before anything is acquired -- */

/* Stack slots the checked request keeps its values in. */
enum {
  REQ = 1, SLOT_METHOD, SLOT_URL, SLOT_HEADERS, SLOT_BODY, SLOT_CAFILE, SLOT_OUTPUT,
  SLOT_SINK, FIRST_FREE_SLOT
};

struct request {
  const char *method;
  const char *url;
  const char *body; /* NULL: no body */
  size_t body_len;
  const char *cafile;
  const char *output; /* stream a 2xx body into this file */
  int has_sink;       /* stream a 2xx body into a sink: NT3_SINK_FUNCTION or _FILE, 0 none */
  const luaL_Stream *sink_file; /* NT3_SINK_FILE: the handle (kept alive by the transfer's sink_ref) */
  double timeout, connect_timeout, stall_timeout, max_retry_wait;
  lua_Integer max_size, max_redirects, retries;
  int has_user_agent, has_content_type, has_expect, has_idempotency_key;
  const char *accept_encoding; /* the caller's Accept-Encoding, NULL: none */
  int raw;                     /* decompress = false: the body as the server sent it */
  /* a sandbox's request (gate.h): the gate, and for nt3.api the
   * Authorization line and the secret to mask, both C strings */
  const struct nt3_http_gate *gate;
  const char *auth, *secret;
};

enum { NT3_SINK_FUNCTION = 1, NT3_SINK_FILE };

void nt3_http_check_request(lua_State *L, struct request *req);

/* Adds the request's header lines to `all` and, leaving credentials
 * out, to `safe`. Returns 0, or -1 when out of memory. */
int nt3_http_build_headers(lua_State *L, const struct curl_api *api, const struct request *req,
                           struct curl_slist **all, struct curl_slist **safe);

/* --- url.c: which URLs may be fetched, and what an origin is ------------ */

/* The parts of a URL the policy, its origin and the URL shown are made
 * of, each read from libcurl once (in libcurl's memory: api->free) */
struct nt3_url_parts {
  const struct curl_api *api; /* NULL: the parts are not libcurl's */
  char *scheme, *host, *port; /* port as written, NULL: none */
  char *default_port;         /* NT3_PARTS_ORIGIN: the scheme's, when no port */
  char *user, *password;      /* NT3_PARTS_USER */
  char *path;                 /* NT3_PARTS_PATH */
};
#define NT3_PARTS_ORIGIN 1u
#define NT3_PARTS_USER 2u
#define NT3_PARTS_PATH 4u
void nt3_http_parts_read(const struct curl_api *api, const CURLU *u, unsigned which, struct nt3_url_parts *p);
void nt3_http_parts_free(struct nt3_url_parts *p);

/* NULL when the URL may be fetched, else why not (in buf). */
const char *nt3_http_refuse_url(const struct curl_api *api, const CURLU *u, char *buf, size_t size);
const char *nt3_http_parts_refuse(const struct nt3_url_parts *p, char *buf, size_t size); /* NT3_PARTS_USER */

/* malloc()ed "scheme://host:port", lower case, default port explicit. */
char *nt3_http_origin(const struct curl_api *api, const CURLU *u);
char *nt3_http_parts_origin(const struct nt3_url_parts *p); /* NT3_PARTS_ORIGIN */

/* scheme://host[:port]/path, without user info or query, into buf. */
const char *nt3_http_display_url(const struct curl_api *api, const CURLU *u, char *buf, size_t size);
const char *nt3_http_parts_shown(const struct nt3_url_parts *p, char *buf, size_t size); /* NT3_PARTS_PATH */

/* http.parse_url(ref, base) made without libcurl when that is plain:
 * ref an absolute path ("/...", not "//"), without dot segments, of
 * characters libcurl takes as they are, base an http or https URL with a
 * plain host (lower case) and no user info. 1 with out filled, as libcurl
 * would resolve it (its fragment dropped; parts: the origin's and the
 * shown URL's), or 0: libcurl decides. */
#define NT3_PLAIN_URL_MAX 2048
struct nt3_plain_url {
  char url[NT3_PLAIN_URL_MAX];
  char scheme[8], host[256], port[8], path[NT3_PLAIN_URL_MAX];
  struct nt3_url_parts parts;
};
int nt3_http_resolve_plain(const char *base, const char *ref, struct nt3_plain_url *out);

/* s as one line of printable text (policy.sanitize's rule), at most max
 * bytes of it, into buf. */
const char *nt3_http_printable(char *buf, size_t size, const char *s, size_t max);

/* The target of the first link of a Link header value (RFC 8288) whose
 * rel holds the relation type rel (case-insensitive): 1 and its span in
 * s, or 0. */
int nt3_http_link_target(const char *s, size_t len, const char *rel, size_t rel_len, size_t *start,
                         size_t *tlen);

/* A URL part as a malloc()ed string (NULL when absent). */
char *nt3_http_part(const struct curl_api *api, const CURLU *u, CURLUPart part, unsigned flags);

/* --- proxy.c: the proxy from the environment ----------------------------- */

/* The proxy (malloc()ed, as the environment gives it) a request to
 * scheme://host goes through, or NULL: none, or a loopback host. */
char *nt3_http_proxy_for(const char *scheme, const char *host);

/* "HOST port N" of a proxy setting, into buf, without its user info. */
const char *nt3_http_proxy_place(const struct curl_api *api, const char *proxy, char *buf, size_t size);

/* --- trace.c: NT3_DEBUG --------------------------------------------------- */

int nt3_http_on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp);
void nt3_http_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- engine.c: the pool and the transfers ---------------------------------- */

struct buffer {
  char *data;
  size_t len, cap, limit;
  int overflowed;
};

int nt3_buffer_add(struct buffer *b, const char *data, size_t n);
void nt3_buffer_free(struct buffer *b);

/* Response headers are held in memory; a server must not be able to make
 * us grow without bound through them. Below libcurl's own bound (300 KB in
 * all, from 7.88), so that this one is met first and says what it is. */
#define MAX_HEADER_BYTES (256 * 1024)
/* What a response that is not streamed may hold when the caller set no
 * bound (a streamed request has none; its error answers still have one). */
#define BUFFERED_MAX (16 * 1024 * 1024)

struct engine;

/* CURLINFO_QUEUE_TIME_T of libcurl 8.6, which the headers built against
 * may predate; an older libcurl answers CURLE_UNKNOWN_OPTION */
#define NT3_CURLINFO_QUEUE_TIME_T ((CURLINFO)(CURLINFO_OFF_T + 65))

enum transfer_state { T_NEW, T_WAITING, T_RUNNING, T_DONE };

#define NT3_HTTP_MESSAGE_SIZE 600

/* The output file of a request with `output` */
struct transfer_file {
  struct nt3_atomic out;
  char name[NAME_MAX + 1];
};

struct transfer {
  struct engine *eng;
  const struct curl_api *api; /* outlives the engine at lua_close */
  struct transfer *prev, *next; /* in the engine's list until done */
  enum transfer_state state;
  double due;   /* T_WAITING: when the next attempt or hop may start */
  int waiter, token; /* registry references: the task waiting for it, and this transfer */
  struct request req;
  /* the current hop */
  CURL *easy;
  CURLU *url;
  struct curl_slist *headers, *safe_headers;
  char *first_origin, *hop_origin;
  /* the current hop's scheme and host, as libcurl read them when the URL
   * was checked (its memory: api->free), for each attempt of the hop */
  char *hop_scheme, *hop_host;
  const char *method; /* changes after a 303 */
  const char *body;
  size_t body_len;
  int cross_origin, redirects, attempt;
  int pipewait; /* the hop went in with CURLOPT_PIPEWAIT (see release_pipewait) */
  int sent;     /* the hop's connection is up and its request going out */
  unsigned setup; /* the engine's plain setup its handle has (engine.c), 0: none */
  char *proxy; /* the proxy of this hop, or NULL */
  double waited, deadline;
  /* stall detection */
  double last_activity;
  curl_off_t last_dl, last_ul;
  int stalled;
  int timed_out; /* a streamed request's timeout ran out before its body */
  double started; /* when the first attempt began */
  /* the response */
  struct buffer head, body_buf;
  int deliver; /* -1 undecided, 0 buffer, 1 stream (output / sink) */
  size_t streamed; /* bytes of this hop handed to the output or the sink */
  /* req.output, once the first byte of it comes; NULL without one: a
   * transfer is allocated for every request, and one under the 1 KB of
   * the allocator's cache of small blocks costs a fraction of one over
   * it (docs/architecture.md, "Performance budget") */
  struct transfer_file *file;
  /* a sandbox's output (gate.h): the directory beneath its fs.write root
   * that holds the file, resolved when the request was made (-1: none);
   * the file's name there is file->name */
  int out_dir;
  /* a sandbox's streamed API body: the tail that may begin a copy of the
   * token, held back until the next chunk (or the end) masks it */
  char *carry;
  size_t carry_len;
  int sink_ref; /* the sink (a function or a file handle) */
  struct buffer gather; /* streamed bytes not handed on yet (stream.c) */
  int sink_failed, write_failed;
  long status, version;
  char *final_url;
  /* failure: message (NULL until the first failure, then
   * NT3_HTTP_MESSAGE_SIZE bytes: see file above) and stable code */
  const char *code;
  char *message;
  char errbuf[CURL_ERROR_SIZE];
};

/* The engine of this Lua state, made on first use; NULL (nil, message,
 * code pushed) when libcurl cannot be loaded. */
struct engine *nt3_engine(lua_State *L);

/* The engine if one was made already, else NULL; never loads libcurl. */
struct engine *nt3_engine_if_any(lua_State *L);

const struct curl_api *nt3_engine_api(const struct engine *e);

/* The thread driving the engine now, which libcurl's callbacks run on. */
lua_State *nt3_engine_thread(const struct engine *e);

/* Prepares t (whose req is checked and whose anchors are kept by the
 * caller) to start at once. Returns 0, or fills t->message/code and
 * returns -1. */
int nt3_transfer_begin(lua_State *L, struct engine *e, struct transfer *t);

/* The scheme and host of p (libcurl's parts of t's new URL) become t's
 * hop_scheme and hop_host; the rest of p is freed. */
void nt3_http_take_hop_parts(struct transfer *t, struct nt3_url_parts *p);

/* Frees what a transfer holds (idempotent), taking it out of the engine. */
void nt3_transfer_free(lua_State *L, struct transfer *t);

/* Registry keys */
#define NT3_HTTP_LIVE "nt3.http.live"         /* lightuserdata -> transfer userdata, while in flight */

/* --- failure.c: the message and stable code of a failure ---------------- */

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
/* not a failure a request returns: what Ctrl-C raises in a script
 * (src/script.c), caught by the sink's pcall and raised again by the
 * request, as a wait would have raised it */
#define E_INTERRUPTED "interrupted"
#define E_OUTPUT "output"
#define E_PERMISSION "permission"

/* t's failure message; "" when there is none. */
static inline const char *nt3_http_message(const struct transfer *t) {
  if (t->message) return t->message;
  return t->code ? "not enough memory" : "";
}

/* Sets t's failure (code and message); returns -1. */
int nt3_http_fail(struct transfer *t, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Turns the failure rc of t's current hop into its message and code. */
void nt3_http_describe_failure(struct transfer *t, CURLcode rc);

/* Adds "; N attempts, T in all" to the message of a retried failure. */
void nt3_http_add_attempts(struct transfer *t);

/* --- redirect.c: following a redirect --------------------------------------- */

int nt3_http_is_redirect(long status);

/* Moves t to where a redirect points, if the policy allows that URL (the
 * method after a 303, credentials dropped for another origin). Returns 0,
 * or -1 with the failure set. */
int nt3_http_follow_redirect(struct transfer *t, long status, const char *location);

/* --- retry.c: when to try again, and after how long ----------------------- */

struct pause {
  char *origin;
  double until;
};

struct retries {
  struct pause *pauses; /* origins a 429 (or Retry-After) paused */
  size_t npauses;
  unsigned long long rng; /* the backoff's jitter */
};

void nt3_http_retries_init(struct retries *r);
void nt3_http_retries_free(struct retries *r);

/* Whether repeating t's request is harmless. */
int nt3_http_is_idempotent(const struct transfer *t);

/* Whether t may be tried once more (attempts left, idempotent, and no
 * byte of its body handed out yet). */
int nt3_http_may_retry(const struct transfer *t);

int nt3_http_retriable_failure(const char *code);
int nt3_http_retriable_status(long status);

/* The wait before attempt number attempt + 1: doubling, capped, jittered. */
double nt3_http_backoff(struct retries *r, int attempt);

/* When transfers to origin may start again (0: now), and a pause until. */
double nt3_http_paused_until(const struct retries *r, const char *origin);
void nt3_http_pause_origin(struct retries *r, const char *origin, double until);

/* --- stream.c: where a streamed 2xx body goes ----------------------------- */

/* A chunk of a streamed body (masked first for a sandbox): gathered, and
 * handed on to the output file, the sink file or the sink function in
 * pieces of up to 128 KiB. 1, or 0 with the failure set. */
int nt3_stream_body(struct transfer *t, const char *data, size_t len);

/* Hands on what is gathered now: 1, or 0 with the failure set. */
int nt3_stream_flush(struct transfer *t);

/* The end of a 2xx hop: the masked tail, what is gathered, and the output
 * file put in place. 1, or 0 with the failure set. */
int nt3_stream_end(struct transfer *t);

/* The output file given up (its temporary file removed), if one was begun. */
void nt3_stream_discard(struct transfer *t);

/* A write or a sink failed: the transfer is to stop. */
int nt3_stream_failed(const struct transfer *t);

/* --- response.c ------------------------------------------------------------ */

/* Pushes the result of a done transfer: response | nil, message, code.
 * Returns the number of values. */
int nt3_http_push_result(lua_State *L, struct transfer *t);

/* Every copy of secret in buf becomes '*': a server that echoes the token
 * back (a header, a body) does not hand it to a sandbox (gate.h). */
void nt3_http_mask(char *buf, size_t len, const char *secret);

/* The same for a body handed on in pieces: buf holds the bytes held back
 * before and the new piece, len in all; every copy of secret (not empty)
 * in it is masked, and the result is how many leading bytes may be handed
 * on now: all of them when last, else all but the strlen(secret) - 1 where
 * a copy may begin, to be held back for the next piece. */
size_t nt3_http_mask_stream(char *buf, size_t len, const char *secret, int last);

/* Seconds a Retry-After header asks for, from a response head; -1 none. */
double nt3_http_retry_after(const struct curl_api *api, const struct buffer *head);

/* The first value of a header in a response head (malloc()ed), or NULL. */
char *nt3_http_header(const struct buffer *head, const char *name);

#endif
