/*
 * The network policy on URLs (docs/architecture.md, invariant 8): only http and https;
 * plain http only to a loopback host, judged on the host exactly as
 * libcurl parsed it, which is the host it will connect to; no user:password@.
 * Checked before the first connection and before every redirect.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "policy.h"

char *nt3_http_part(const struct curl_api *api, const CURLU *u, CURLUPart part, unsigned flags) {
  char *s = NULL;
  if (api->url_get(u, part, &s, flags) != CURLUE_OK || !s) return NULL;
  char *copy = strdup(s);
  api->free(s);
  return copy;
}

const char *nt3_http_refuse_url(const struct curl_api *api, const CURLU *u, char *buf, size_t size) {
  char *scheme = nt3_http_part(api, u, CURLUPART_SCHEME, 0);
  char *user = nt3_http_part(api, u, CURLUPART_USER, 0);
  char *password = nt3_http_part(api, u, CURLUPART_PASSWORD, 0);
  char *host = nt3_http_part(api, u, CURLUPART_HOST, 0);
  const char *why = NULL;
  if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
    snprintf(buf, size, "unsupported URL scheme \"%s\" (only http and https)", scheme ? scheme : "");
    why = buf;
  } else if (user || password) {
    snprintf(buf, size, "a URL with a user name or password (user:password@) is not accepted");
    why = buf;
  } else if (!host || !*host) {
    snprintf(buf, size, "URL has no host");
    why = buf;
  } else if (strcasecmp(scheme, "http") == 0 && !nt3_is_loopback(host)) {
    /* plain http is tolerable only where nobody can listen in */
    snprintf(buf, size, "refusing plain http:// to non-loopback host \"%s\" (use https)", host);
    why = buf;
  }
  free(scheme);
  free(user);
  free(password);
  free(host);
  return why;
}

/* Two URLs with the same origin may share credentials, no others. */
char *nt3_http_origin(const struct curl_api *api, const CURLU *u) {
  char *scheme = nt3_http_part(api, u, CURLUPART_SCHEME, 0);
  char *host = nt3_http_part(api, u, CURLUPART_HOST, 0);
  char *port = nt3_http_part(api, u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  size_t n = (scheme ? strlen(scheme) : 0) + (host ? strlen(host) : 0) + (port ? strlen(port) : 0) + 5;
  char *o = malloc(n);
  if (o) {
    snprintf(o, n, "%s://%s:%s", scheme ? scheme : "", host ? host : "", port ? port : "");
    for (char *p = o; *p; p++) *p = (char)tolower((unsigned char)*p);
  }
  free(scheme);
  free(host);
  free(port);
  return o;
}

/* No user info, no query: either may hold a secret. */
const char *nt3_http_display_url(const struct curl_api *api, const CURLU *u, char *buf, size_t size) {
  char *scheme = nt3_http_part(api, u, CURLUPART_SCHEME, 0);
  char *host = nt3_http_part(api, u, CURLUPART_HOST, 0);
  char *port = nt3_http_part(api, u, CURLUPART_PORT, 0);
  char *path = nt3_http_part(api, u, CURLUPART_PATH, 0);
  snprintf(buf, size, "%s://%s%s%s%s", scheme ? scheme : "", host ? host : "", port ? ":" : "",
           port ? port : "", path ? path : "");
  free(scheme);
  free(host);
  free(port);
  free(path);
  return buf;
}
