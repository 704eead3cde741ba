/*
 * Redirects, followed by nt3 hop by hop rather than by libcurl
 * (docs/architecture.md, "The request engine"): the network policy
 * (url.c) judges every URL a Location points to before a connection is
 * made, and credentials stay behind from the first hop to another origin.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "policy.h"

int nt3_http_is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
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
int nt3_http_follow_redirect(struct transfer *t, long status, const char *location) {
  const struct curl_api *api = t->api;
  char shown[600], why[600];
  if (unfit_location(location))
    return nt3_http_fail(t, E_INVALID_URL, "redirect to \"%s\" refused: invalid URL (it holds a control character or a space)",
                     nt3_http_printable(shown, sizeof shown, location, 200));
  CURLU *next = api->url_dup(t->url);
  if (!next) return nt3_http_fail(t, E_NETWORK, "not enough memory");
  /* a relative Location is resolved against the current URL */
  CURLUcode uc = api->url_set(next, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK) {
    api->url_cleanup(next);
    return nt3_http_fail(t, E_INVALID_URL, "redirect to \"%s\" refused: invalid URL (%s)",
                     nt3_http_printable(shown, sizeof shown, location, 200), api->url_strerror(uc));
  }
  /* each part read once: the policy, the origin (the gate's and the
   * hop's) and every attempt's start take them from here */
  struct nt3_url_parts p;
  nt3_http_parts_read(api, next, NT3_PARTS_ORIGIN | NT3_PARTS_USER, &p);
  if (nt3_http_parts_refuse(&p, why, sizeof why)) {
    nt3_http_parts_free(&p);
    nt3_http_display_url(api, next, shown, sizeof shown);
    api->url_cleanup(next);
    return nt3_http_fail(t, E_REFUSED_URL, "redirect to %s refused: %s", shown, why);
  }
  char *origin = nt3_http_parts_origin(&p);
  /* a sandbox judges every hop, by its parsed origin (gate.h) */
  if (t->req.gate && (!origin || t->req.gate->allow(t->req.gate, t->req.auth != NULL, t->method, origin, why, sizeof why))) {
    free(origin);
    nt3_http_parts_free(&p);
    nt3_http_display_url(api, next, shown, sizeof shown);
    api->url_cleanup(next);
    return nt3_http_fail(t, E_PERMISSION, "redirect to %s refused: %s", shown, why);
  }
  api->url_cleanup(t->url);
  t->url = next;
  nt3_http_take_hop_parts(t, &p);
  method_after_redirect(t, status);
  int debug = nt3_debug_enabled();
  if (debug) nt3_http_trace("following %ld redirect to %s", status, nt3_http_display_url(api, t->url, shown, sizeof shown));
  free(t->hop_origin);
  t->hop_origin = origin;
  if (!t->cross_origin && (!t->hop_origin || strcmp(t->hop_origin, t->first_origin) != 0)) {
    t->cross_origin = 1; /* for this hop and every later one */
    if (debug)
      nt3_http_trace("%s is another origin: Authorization, Cookie and Proxy-Authorization not sent",
                     t->hop_origin ? t->hop_origin : "?");
  }
  return 0;
}
