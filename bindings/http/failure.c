/*
 * What a failed request says, and its stable code (docs/architecture.md,
 * "The request engine"): one line that names the host, the port or the
 * proxy, and the limit that ran out, so that a caller branches on the
 * code and a person reads the message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "policy.h"

int nt3_http_fail(struct transfer *t, const char *code, const char *fmt, ...) {
  t->code = code;
  if (!t->message) t->message = malloc(NT3_HTTP_MESSAGE_SIZE);
  if (!t->message) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->message, NT3_HTTP_MESSAGE_SIZE, fmt, ap);
  va_end(ap);
  return -1;
}

/* Turns a failed hop into a message and a code. */
void nt3_http_describe_failure(struct transfer *t, CURLcode rc) {
  const struct curl_api *api = t->api;
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
    nt3_http_fail(t, E_TOO_LARGE, "response too large (more than %lld bytes)",
              (long long)(req->max_size > 0 ? req->max_size : BUFFERED_MAX));
  } else if (rc == CURLE_ABORTED_BY_CALLBACK && t->stalled) {
    nt3_http_fail(t, E_TIMEOUT, "timed out: no data from %s port %s for %.1f s (stall_timeout)", h, p, req->stall_timeout);
  } else if (rc == CURLE_WRITE_ERROR && t->head.overflowed) {
    nt3_http_fail(t, E_TOO_LARGE, "response headers too large (more than %d bytes)", MAX_HEADER_BYTES);
  } else if ((rc == CURLE_OUT_OF_MEMORY && t->deliver < 0) || (int)rc == 100 /* CURLE_TOO_LARGE, 8.6 */) {
    /* libcurl's own bound on one header line (100 KB) */
    nt3_http_fail(t, E_TOO_LARGE, "response headers too large (a header line longer than libcurl accepts)");
  } else if (rc == CURLE_COULDNT_CONNECT) {
    long err = 0;
    api->easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &err);
    nt3_http_fail(t, E_CONNECT, "could not connect to %s: %s", place, err ? strerror((int)err) : detail);
  } else if (rc == CURLE_OPERATION_TIMEDOUT || (rc == CURLE_ABORTED_BY_CALLBACK && t->timed_out)) {
    /* not CONNECT_TIME: on a reused connection it is 0 too; a request that
     * was never sent timed out connecting */
    curl_off_t sent = 0;
    api->easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &sent);
    if (sent == 0 && req->connect_timeout <= req->timeout)
      nt3_http_fail(t, E_TIMEOUT, "timed out after %.1f s connecting to %s (connect_timeout)", req->connect_timeout, place);
    else
      nt3_http_fail(t, E_TIMEOUT, "timed out after %.1f s waiting for %s port %s (timeout)", req->timeout, h, p);
  } else if (rc == CURLE_COULDNT_RESOLVE_PROXY && t->proxy) {
    char at[280];
    nt3_http_fail(t, E_RESOLVE, "could not resolve proxy %s: %s", nt3_http_proxy_place(api, t->proxy, at, sizeof at), detail);
  } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
    nt3_http_fail(t, E_RESOLVE, "could not resolve host \"%s\": %s", h, detail);
  } else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    nt3_http_fail(t, E_UNTRUSTED, "TLS certificate not trusted for %s: %s%s", h, detail,
              req->cafile ? "" : " (for a private CA give cafile)");
  } else if (rc == CURLE_SSL_CACERT_BADFILE) {
    nt3_http_fail(t, E_TLS, "could not use CA file \"%s\": %s", req->cafile ? req->cafile : "(default)", detail);
  } else if (rc == CURLE_SSL_CONNECT_ERROR) {
    nt3_http_fail(t, E_TLS, "TLS handshake with %s port %s failed: %s", h, p, detail);
  } else if (rc == CURLE_GOT_NOTHING) {
    nt3_http_fail(t, E_NETWORK, "%s port %s closed the connection without a response", h, p);
  } else {
    nt3_http_fail(t, E_NETWORK, "request to %s port %s failed: %s", h, p, detail);
  }
  free(host);
  free(port);
}

/* "; 4 attempts, 2 min 3 s in all" after the last attempt's failure: its
 * own message gives one attempt's bound, not how long the caller waited. */
void nt3_http_add_attempts(struct transfer *t) {
  double all = nt3_monotonic() - t->started;
  char took[32];
  if (all < 60) snprintf(took, sizeof took, "%.1f s", all);
  else snprintf(took, sizeof took, "%d min %d s", (int)(all / 60), (int)all % 60);
  if (!t->message) return;
  size_t n = strlen(t->message);
  snprintf(t->message + n, NT3_HTTP_MESSAGE_SIZE - n, "; %d attempts, %s in all", t->attempt + 1, took);
}
