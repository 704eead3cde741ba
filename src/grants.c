/*
 * Text parsed for a sandbox's permissions: origins and memory sizes
 * (src/grants.h). No Lua here: the fuzz harness runs these alone.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grants.h"
#include "policy.h"

/* A host's canonical form into out: numeric hosts as an address (every
 * spelling the resolver would take as IPv4, inet_aton's, included: a grant
 * of 127.0.0.1 and a request to 2130706433 are the same host), names in
 * lower case without a trailing dot. 0, or -1. */
static int canonical_host(const char *host, size_t len, char *out, size_t size) {
  char h[256];
  if (len == 0 || len >= sizeof h) return -1;
  for (size_t i = 0; i < len; i++) h[i] = (char)tolower((unsigned char)host[i]);
  h[len] = '\0';
  /* "example.com." is example.com, and "127.1." is 127.1 */
  if (h[len - 1] == '.' && h[0] != '[') h[--len] = '\0';
  if (len == 0) return -1;
  unsigned char addr[16];
  char text[INET6_ADDRSTRLEN];
  int family = nt3_parse_address(h, addr);
  if (family == AF_INET6 && h[0] != '[') return -1; /* a bare IPv6 is no URL host */
  if (family == AF_INET6) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, mapped, 12) == 0) {
      memmove(addr, addr + 12, 4);
      family = AF_INET;
    } else {
      if (!inet_ntop(AF_INET6, addr, text, sizeof text)) return -1;
      return snprintf(out, size, "[%s]", text) < (int)size ? 0 : -1;
    }
  }
  if (family == 0 && strspn(h, "0123456789abcdefx.") == len && h[0] >= '0' && h[0] <= '9') {
    struct in_addr a;
    if (inet_aton(h, &a)) {
      memcpy(addr, &a, 4);
      family = AF_INET;
    }
  }
  if (family == AF_INET) {
    if (!inet_ntop(AF_INET, addr, text, sizeof text)) return -1;
    return snprintf(out, size, "%s", text) < (int)size ? 0 : -1;
  }
  /* a name: labels of letters, digits, - and _, none of them empty */
  if (h[0] == '.' || strstr(h, "..") || h[len - 1] == '.') return -1;
  for (size_t i = 0; i < len; i++)
    if (!(isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == '.' || h[i] == '_')) return -1;
  return snprintf(out, size, "%s", h) < (int)size ? 0 : -1;
}

int nt3_canonical_origin(const char *spec, char *out, size_t size) {
  const char *p = spec;
  const char *scheme;
  unsigned long port;
  if (strncasecmp(p, "https://", 8) == 0) {
    scheme = "https";
    port = 443;
    p += 8;
  } else if (strncasecmp(p, "http://", 7) == 0) {
    scheme = "http";
    port = 80;
    p += 7;
  } else {
    return -1;
  }
  const char *end = p + strlen(p);
  if (end > p && end[-1] == '/') end--;
  /* no user info, path, query or fragment: an origin is only these */
  for (const char *q = p; q < end; q++)
    if (*q == '@' || *q == '/' || *q == '?' || *q == '#' || *q == '\\') return -1;
  const char *host_end = end;
  if (*p == '[') {
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (!close) return -1;
    host_end = close + 1;
  } else {
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon) host_end = colon;
  }
  if (host_end < end) {
    if (*host_end != ':' || host_end + 1 == end) return -1;
    char *stop;
    const char *digits = host_end + 1;
    if (!isdigit((unsigned char)*digits)) return -1;
    port = strtoul(digits, &stop, 10);
    if (stop != end || port == 0 || port > 65535) return -1;
  }
  char host[300];
  if (canonical_host(p, (size_t)(host_end - p), host, sizeof host) != 0) return -1;
  int n = snprintf(out, size, "%s://%s:%lu", scheme, host, port);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

int nt3_parse_memory(const char *spec, size_t max, size_t *bytes) {
  char *stop;
  if (!isdigit((unsigned char)spec[0])) return -1;
  unsigned long long n = strtoull(spec, &stop, 10);
  unsigned long long unit = 1;
  switch (*stop) {
  case '\0': break;
  case 'K': case 'k': unit = 1ULL << 10; stop++; break;
  case 'M': case 'm': unit = 1ULL << 20; stop++; break;
  case 'G': case 'g': unit = 1ULL << 30; stop++; break;
  default: return -1;
  }
  if (*stop == 'i' && unit > 1) stop++;
  if (*stop == 'B' && unit > 1) stop++;
  if (*stop != '\0' || n == 0 || n > max / unit) return -1;
  n *= unit;
  if (n < (1ULL << 20)) return -1;
  *bytes = (size_t)n;
  return 0;
}
