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

struct fixed {
  char *p;
  size_t left;
};

static void to_fixed(void *ud, const char *s, size_t n) {
  struct fixed *f = ud;
  if (n >= f->left) n = f->left ? f->left - 1 : 0;
  memcpy(f->p, s, n);
  f->p += n;
  f->left -= n;
  if (f->left) *f->p = '\0';
}

const char *nt3_http_printable(char *buf, size_t size, const char *s, size_t max) {
  struct fixed f = {buf, size};
  if (size) buf[0] = '\0';
  nt3_printable(to_fixed, &f, s, strlen(s), max);
  return buf;
}

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
    /* plain http is tolerable only where nobody can listen in; the host
     * may come from a Location header: it is shown as printable text */
    char shown[300];
    snprintf(buf, size, "refusing plain http:// to non-loopback host \"%s\" (use https)",
             nt3_http_printable(shown, sizeof shown, host, 200));
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

/* No user info, no query: either may hold a secret. Printable text: the
 * URL may come from a server (a Location, a Link header). */
const char *nt3_http_display_url(const struct curl_api *api, const CURLU *u, char *buf, size_t size) {
  char *scheme = nt3_http_part(api, u, CURLUPART_SCHEME, 0);
  char *host = nt3_http_part(api, u, CURLUPART_HOST, 0);
  char *port = nt3_http_part(api, u, CURLUPART_PORT, 0);
  char *path = nt3_http_part(api, u, CURLUPART_PATH, 0);
  char raw[600];
  snprintf(raw, sizeof raw, "%s://%s%s%s%s", scheme ? scheme : "", host ? host : "", port ? ":" : "",
           port ? port : "", path ? path : "");
  nt3_http_printable(buf, size, raw, 300);
  free(scheme);
  free(host);
  free(port);
  free(path);
  return buf;
}

/* ---------------------------------------------------------------------------
 * Link headers (RFC 8288)
 * ------------------------------------------------------------------------- */

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* RFC 9110 tchar */
static int is_tchar(char c) {
  return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Skips a quoted-string that opens at s[*i] ('"'), copying its unescaped
 * text into out (up to size - 1 bytes, NUL-terminated). Returns 0 when
 * it is not closed. */
static int quoted(const char *s, size_t len, size_t *i, char *out, size_t size) {
  size_t n = 0;
  for (size_t j = *i + 1; j < len; j++) {
    char c = s[j];
    if (c == '\\' && j + 1 < len) c = s[++j];
    else if (c == '"') {
      if (size) out[n < size ? n : size - 1] = '\0';
      *i = j + 1;
      return 1;
    }
    if (n + 1 < size) out[n++] = c;
  }
  return 0;
}

/* Whether the space-separated relation types in rels include rel. */
static int has_rel(const char *rels, const char *rel, size_t rel_len) {
  const char *p = rels;
  while (*p) {
    while (*p && isspace((unsigned char)*p)) p++;
    const char *w = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    if ((size_t)(p - w) == rel_len && rel_len && strncasecmp(w, rel, rel_len) == 0) return 1;
  }
  return 0;
}

/* After a malformed link-value: on to the comma that ends it (outside
 * quoted strings and the <...> of a target), or the end. */
static size_t skip_value(const char *s, size_t len, size_t i) {
  char scratch[1];
  while (i < len && s[i] != ',') {
    if (s[i] == '"') {
      if (!quoted(s, len, &i, scratch, 0)) return len;
    } else if (s[i] == '<') {
      const char *gt = memchr(s + i, '>', len - i);
      if (!gt) return len;
      i = (size_t)(gt - s) + 1;
    } else {
      i++;
    }
  }
  return i;
}

int nt3_http_link_target(const char *s, size_t len, const char *rel, size_t rel_len, size_t *start,
                         size_t *tlen) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (is_ows(s[i]) || s[i] == ',')) i++;
    if (i >= len) break;
    if (s[i] != '<') {
      i = skip_value(s, len, i);
      continue;
    }
    const char *gt = memchr(s + i, '>', len - i);
    if (!gt) break;
    size_t t0 = i + 1, t1 = (size_t)(gt - s);
    i = t1 + 1;
    int matched = 0, seen_rel = 0, ok = 1;
    while (ok) {
      while (i < len && is_ows(s[i])) i++;
      if (i >= len || s[i] != ';') break;
      i++;
      while (i < len && is_ows(s[i])) i++;
      size_t n0 = i;
      while (i < len && is_tchar(s[i])) i++;
      size_t nlen = i - n0;
      char value[1024];
      value[0] = '\0';
      while (i < len && is_ows(s[i])) i++;
      if (i < len && s[i] == '=') {
        i++;
        while (i < len && is_ows(s[i])) i++;
        if (i < len && s[i] == '"') {
          if (!quoted(s, len, &i, value, sizeof value)) return 0;
        } else {
          size_t v0 = i;
          while (i < len && is_tchar(s[i])) i++;
          size_t vlen = i - v0 < sizeof value - 1 ? i - v0 : sizeof value - 1;
          memcpy(value, s + v0, vlen);
          value[vlen] = '\0';
        }
      }
      if (nlen == 0) ok = 0;
      /* a second rel is ignored (RFC 8288, 3.3) */
      if (ok && nlen == 3 && strncasecmp(s + n0, "rel", 3) == 0 && !seen_rel) {
        seen_rel = 1;
        matched = has_rel(value, rel, rel_len);
      }
    }
    while (i < len && is_ows(s[i])) i++;
    if (i < len && s[i] != ',') {
      i = skip_value(s, len, i);
      continue; /* a malformed link-value is no link */
    }
    if (matched) {
      *start = t0;
      *tlen = t1 - t0;
      return 1;
    }
  }
  return 0;
}
