/*
 * Which proxy a request goes through. The environment is read as libcurl
 * reads it (<scheme>_proxy, then -- except for http, where an upper-case
 * HTTP_PROXY could come from a CGI request's "Proxy:" header -- its upper
 * case form, then all_proxy / ALL_PROXY; no_proxy / NO_PROXY exempts
 * hosts), but decided here and handed to libcurl explicitly, so that nt3
 * knows which machine it connects to and can name it when that fails.
 * A loopback host never goes through a proxy (docs/lua-api.md, "The
 * policy"): through one, "127.0.0.1" would be the proxy's own machine.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "policy.h"

static const char *env_either(const char *lower, const char *upper) {
  const char *v = getenv(lower);
  return v || !upper ? v : getenv(upper);
}

/* Whether the first `bits` bits of two addresses of `len` bytes agree. */
static int same_prefix(const unsigned char *a, const unsigned char *b, size_t len, unsigned bits) {
  if (bits == 0 || bits > len * 8) bits = (unsigned)(len * 8);
  size_t whole = bits / 8;
  if (memcmp(a, b, whole) != 0) return 0;
  unsigned rest = bits % 8;
  if (!rest) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

/* A no_proxy entry ("10.0.0.0/8", "[::1]", "::1/128") against an address. */
static int address_matches(int family, const unsigned char *addr, const char *entry, size_t len) {
  char text[INET6_ADDRSTRLEN + 8];
  if (len >= sizeof text) return 0;
  memcpy(text, entry, len);
  text[len] = '\0';
  unsigned bits = 0;
  char *slash = strchr(text, '/');
  if (slash) {
    *slash = '\0';
    bits = (unsigned)strtoul(slash + 1, NULL, 10);
  }
  unsigned char other[16];
  if (nt3_parse_address(text, other) != family) return 0;
  return same_prefix(addr, other, family == AF_INET ? 4 : 16, bits);
}

/* A no_proxy entry ("example.com", ".example.com") against a host name:
 * the name itself or any name under it. */
static int name_matches(const char *host, size_t hlen, const char *entry, size_t len) {
  if (len && entry[len - 1] == '.') len--;
  if (len && entry[0] == '.') {
    entry++;
    len--;
  }
  if (!len || len > hlen) return 0;
  if (len < hlen && host[hlen - len - 1] != '.') return 0;
  return strncasecmp(host + hlen - len, entry, len) == 0;
}

/* no_proxy: "*", or entries separated by commas and blanks. */
static int exempt(const char *host, const char *no_proxy) {
  if (!no_proxy || !*no_proxy) return 0;
  if (strcmp(no_proxy, "*") == 0) return 1;
  unsigned char addr[16];
  size_t hlen = strlen(host);
  int family = nt3_parse_address(host, addr);
  if (!family && hlen && host[hlen - 1] == '.') {
    hlen--; /* "example.com." is example.com */
  }
  for (const char *p = no_proxy; *p;) {
    while (*p == ',' || *p == ' ' || *p == '\t') p++;
    const char *entry = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
    size_t len = (size_t)(p - entry);
    if (!len) continue;
    if (family ? address_matches(family, addr, entry, len) : name_matches(host, hlen, entry, len)) return 1;
  }
  return 0;
}

char *nt3_http_proxy_for(const char *scheme, const char *host) {
  if (!scheme || !host || nt3_is_loopback(host)) return NULL;
  if (exempt(host, env_either("no_proxy", "NO_PROXY"))) return NULL;
  char lower[16], upper[16];
  if (strlen(scheme) > 8) return NULL;
  snprintf(lower, sizeof lower, "%s_proxy", scheme);
  for (size_t i = 0; lower[i]; i++) {
    lower[i] = (char)tolower((unsigned char)lower[i]);
    upper[i] = (char)toupper((unsigned char)lower[i]);
  }
  upper[strlen(lower)] = '\0';
  const char *v = env_either(lower, strcmp(lower, "http_proxy") == 0 ? NULL : upper);
  if (!v) v = env_either("all_proxy", "ALL_PROXY");
  return v && *v ? strdup(v) : NULL;
}

/* "127.0.0.1 port 3128": where a proxy setting points, without the user
 * name or password it may hold; default ports as libcurl's. */
const char *nt3_http_proxy_place(const struct curl_api *api, const char *proxy, char *buf, size_t size) {
  CURLU *u = api->url();
  char *scheme = NULL, *host = NULL, *port = NULL;
  if (u && api->url_set(u, CURLUPART_URL, proxy, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    scheme = nt3_http_part(api, u, CURLUPART_SCHEME, 0);
    host = nt3_http_part(api, u, CURLUPART_HOST, 0);
    port = nt3_http_part(api, u, CURLUPART_PORT, 0);
  }
  const char *def = scheme && strcasecmp(scheme, "https") == 0 ? "443" : "1080";
  snprintf(buf, size, "%s port %s", host ? host : "?", port ? port : def);
  free(scheme);
  free(host);
  free(port);
  if (u) api->url_cleanup(u);
  return buf;
}
