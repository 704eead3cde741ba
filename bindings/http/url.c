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

/* Each part read once, as libcurl gives it (its own memory). */
static char *curl_part(const struct curl_api *api, const CURLU *u, CURLUPart part, unsigned flags) {
  char *s = NULL;
  return api->url_get(u, part, &s, flags) == CURLUE_OK ? s : NULL;
}

void nt3_http_parts_read(const struct curl_api *api, const CURLU *u, unsigned which, struct nt3_url_parts *p) {
  memset(p, 0, sizeof *p);
  p->api = api;
  p->scheme = curl_part(api, u, CURLUPART_SCHEME, 0);
  p->host = curl_part(api, u, CURLUPART_HOST, 0);
  p->port = curl_part(api, u, CURLUPART_PORT, 0);
  /* the scheme's own port, which an origin names (CURLU_DEFAULT_PORT) */
  if (!p->port && (which & NT3_PARTS_ORIGIN)) p->default_port = curl_part(api, u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (which & NT3_PARTS_USER) {
    p->user = curl_part(api, u, CURLUPART_USER, 0);
    p->password = curl_part(api, u, CURLUPART_PASSWORD, 0);
  }
  if (which & NT3_PARTS_PATH) p->path = curl_part(api, u, CURLUPART_PATH, 0);
}

void nt3_http_parts_free(struct nt3_url_parts *p) {
  if (!p->api) return;
  char **all[] = {&p->scheme, &p->host, &p->port, &p->default_port, &p->user, &p->password, &p->path};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (*all[i]) p->api->free(*all[i]);
    *all[i] = NULL;
  }
}

const char *nt3_http_parts_refuse(const struct nt3_url_parts *p, char *buf, size_t size) {
  const char *scheme = p->scheme, *host = p->host;
  if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
    snprintf(buf, size, "unsupported URL scheme \"%s\" (only http and https)", scheme ? scheme : "");
    return buf;
  }
  if (p->user || p->password) {
    snprintf(buf, size, "a URL with a user name or password (user:password@) is not accepted");
    return buf;
  }
  if (!host || !*host) {
    snprintf(buf, size, "URL has no host");
    return buf;
  }
  if (strcasecmp(scheme, "http") == 0 && !nt3_is_loopback(host)) {
    /* plain http is tolerable only where nobody can listen in; the host
     * may come from a Location header: it is shown as printable text */
    char shown[300];
    snprintf(buf, size, "refusing plain http:// to non-loopback host \"%s\" (use https)",
             nt3_http_printable(shown, sizeof shown, host, 200));
    return buf;
  }
  return NULL;
}

const char *nt3_http_refuse_url(const struct curl_api *api, const CURLU *u, char *buf, size_t size) {
  struct nt3_url_parts p;
  nt3_http_parts_read(api, u, NT3_PARTS_USER, &p);
  const char *why = nt3_http_parts_refuse(&p, buf, size);
  nt3_http_parts_free(&p);
  return why;
}

/* Two URLs with the same origin may share credentials, no others. */
char *nt3_http_parts_origin(const struct nt3_url_parts *p) {
  const char *scheme = p->scheme ? p->scheme : "", *host = p->host ? p->host : "";
  const char *port = p->port ? p->port : p->default_port ? p->default_port : "";
  size_t ns = strlen(scheme), nh = strlen(host), np = strlen(port);
  char *o = malloc(ns + nh + np + 5);
  if (!o) return NULL;
  char *w = o;
  memcpy(w, scheme, ns);
  w += ns;
  memcpy(w, "://", 3);
  w += 3;
  memcpy(w, host, nh);
  w += nh;
  *w++ = ':';
  memcpy(w, port, np + 1);
  for (char *c = o; *c; c++) *c = (char)tolower((unsigned char)*c);
  return o;
}

char *nt3_http_origin(const struct curl_api *api, const CURLU *u) {
  struct nt3_url_parts p;
  nt3_http_parts_read(api, u, NT3_PARTS_ORIGIN, &p);
  char *o = nt3_http_parts_origin(&p);
  nt3_http_parts_free(&p);
  return o;
}

/* No user info, no query: either may hold a secret. Printable text: the
 * URL may come from a server (a Location, a Link header). */
const char *nt3_http_parts_shown(const struct nt3_url_parts *p, char *buf, size_t size) {
  /* scheme://host[:port]path, cut at 599 bytes as snprintf would */
  char raw[600];
  struct fixed f = {raw, sizeof raw};
  const char *piece[] = {p->scheme, "://", p->host, p->port ? ":" : NULL, p->port, p->path};
  raw[0] = '\0';
  for (size_t i = 0; i < sizeof piece / sizeof piece[0]; i++)
    if (piece[i]) to_fixed(&f, piece[i], strlen(piece[i]));
  return nt3_http_printable(buf, size, raw, 300);
}

const char *nt3_http_display_url(const struct curl_api *api, const CURLU *u, char *buf, size_t size) {
  struct nt3_url_parts p;
  nt3_http_parts_read(api, u, NT3_PARTS_PATH, &p);
  nt3_http_parts_shown(&p, buf, size);
  nt3_http_parts_free(&p);
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

/* ---------------------------------------------------------------------------
 * http.parse_url without libcurl, for the plain case
 * ------------------------------------------------------------------------- */

static int is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar but '%': unreserved, sub-delims, ':' and '@' */
static int is_pchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("-._~!$&'()*+,;=:@", c));
}

enum { SPAN_PATH, SPAN_QUERY };

/* Whether n bytes of s are pchar, '/', well-formed %HH escapes and, but
 * in a path, '?'; a path holds neither "/." nor an escaped dot. Bytes
 * libcurl may encode, normalise or refuse (spaces, controls, non-ASCII,
 * '\', '[', ...) are none of these. */
static int plain_span(const char *s, size_t n, int what) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2])) return 0;
      if (what == SPAN_PATH && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E')) return 0;
      i += 2;
    } else if (c == '/') {
      if (what == SPAN_PATH && i + 1 < n && s[i + 1] == '.') return 0;
    } else if (!is_pchar(c) && !(c == '?' && what == SPAN_QUERY)) {
      return 0;
    }
  }
  return 1;
}

/* A host name of lower-case letters, digits, '-' and '.' in labels that
 * are not empty, the last one beginning with a letter, or a dotted quad as
 * libcurl writes one (a host of numbers only in another form, "127.1",
 * "0x7f.1", is one libcurl rewrites). */
static int plain_host(const char *h, size_t n) {
  if (n == 0 || n > 253) return 0;
  int all_numeric = 1, labels = 0, last_letter = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && h[j] != '.') {
      unsigned char c = (unsigned char)h[j];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
      j++;
    }
    if (j == i) return 0; /* an empty label, a trailing dot */
    if (!(h[i] >= '0' && h[i] <= '9')) all_numeric = 0;
    last_letter = h[i] >= 'a' && h[i] <= 'z';
    labels++;
    i = j + (j < n);
    if (j < n && i == n) return 0; /* "name." */
  }
  if (!all_numeric) return last_letter;
  if (labels != 4) return 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    unsigned v = 0;
    while (j < n && h[j] != '.') {
      if (h[j] < '0' || h[j] > '9') return 0;
      v = v * 10 + (unsigned)(h[j] - '0');
      if (v > 255) return 0;
      j++;
    }
    if (j - i > 1 && h[i] == '0') return 0;
    i = j + 1;
  }
  return 1;
}

int nt3_http_resolve_plain(const char *base, const char *ref, struct nt3_plain_url *out) {
  /* the reference: an absolute path ("/...", not "//host") */
  if (ref[0] != '/' || ref[1] == '/') return 0;
  /* the base: http or https, a plain host, a port other than the
   * scheme's own (libcurl may leave that one out or keep it) */
  const char *scheme, *def;
  size_t sl;
  if (strncmp(base, "https://", 8) == 0) scheme = "https", def = "443", sl = 5;
  else if (strncmp(base, "http://", 7) == 0) scheme = "http", def = "80", sl = 4;
  else return 0;
  const char *host = base + sl + 3;
  size_t hl = strcspn(host, ":/?#");
  if (!plain_host(host, hl)) return 0;
  const char *r = host + hl, *port = NULL;
  size_t pl = 0;
  if (*r == ':') {
    port = ++r;
    unsigned long v = 0;
    while (*r >= '0' && *r <= '9' && pl < 6) v = v * 10 + (unsigned long)(*r++ - '0'), pl++;
    if (pl == 0 || pl > 5 || port[0] == '0' || v > 65535 || (pl == strlen(def) && strncmp(port, def, pl) == 0))
      return 0;
  }
  /* the rest of the base must be one libcurl takes as it is */
  if (*r && *r != '/' && *r != '?' && *r != '#') return 0;
  const char *bfrag = strchr(r, '#');
  size_t brest = bfrag ? (size_t)(bfrag - r) : strlen(r);
  if (!plain_span(r, brest, SPAN_QUERY) || (bfrag && !plain_span(bfrag + 1, strlen(bfrag + 1), SPAN_QUERY))) return 0;
  /* the reference: its path, its query (not empty: libcurl drops an empty
   * one), its fragment (dropped) */
  const char *frag = strchr(ref, '#');
  size_t body = frag ? (size_t)(frag - ref) : strlen(ref);
  const char *q = memchr(ref, '?', body);
  size_t path_len = q ? (size_t)(q - ref) : body;
  if (!plain_span(ref, path_len, SPAN_PATH)) return 0;
  if (q && (body - path_len < 2 || !plain_span(q + 1, body - path_len - 1, SPAN_QUERY))) return 0;
  if (frag && !plain_span(frag + 1, strlen(frag + 1), SPAN_QUERY)) return 0;
  size_t prefix = sl + 3 + hl + (port ? pl + 1 : 0);
  if (prefix + body >= sizeof out->url) return 0;
  memcpy(out->url, base, prefix);
  memcpy(out->url + prefix, ref, body);
  out->url[prefix + body] = '\0';
  memcpy(out->scheme, scheme, sl + 1);
  memcpy(out->host, host, hl);
  out->host[hl] = '\0';
  memcpy(out->port, port ? port : def, port ? pl : strlen(def));
  out->port[port ? pl : strlen(def)] = '\0';
  memcpy(out->path, ref, path_len);
  out->path[path_len] = '\0';
  memset(&out->parts, 0, sizeof out->parts);
  out->parts.scheme = out->scheme;
  out->parts.host = out->host;
  if (port) out->parts.port = out->port;
  else out->parts.default_port = out->port;
  out->parts.path = out->path;
  return 1;
}
