/*
 * src/grants.c: the origins and memory sizes of a sandbox's permissions
 * (docs/architecture.md, "Sandboxed commands"). Input: an origin as a
 * grant gives it, or a URL that libcurl parses into the origin the gate
 * judges. Properties: a canonical origin is scheme://host:port with no
 * user info, path or upper case, and canonical again as it is; any
 * spelling of a numeric IPv4 host comes out as a dotted quad; a memory
 * size is within its bounds.
 */
#include <arpa/inet.h>
#include <ctype.h>

#include "fuzz.h"
#include "grants.h"

static void check_canonical(const char *in, const char *out) {
  FUZZ_CHECK(strncmp(out, "http://", 7) == 0 || strncmp(out, "https://", 8) == 0, "%s -> %s", in, out);
  const char *host = strstr(out, "://") + 3;
  FUZZ_CHECK(!strchr(host, '@') && !strchr(host, '/') && !strchr(host, '?'), "%s -> %s", in, out);
  for (const char *p = out; *p; p++) FUZZ_CHECK(!isupper((unsigned char)*p), "upper case: %s -> %s", in, out);
  const char *colon = strrchr(host, ':');
  FUZZ_CHECK(colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1), "no port: %s -> %s", in, out);
  char again[400];
  FUZZ_CHECK(nt3_canonical_origin(out, again, sizeof again) == 0 && strcmp(again, out) == 0, "not stable: %s -> %s -> %s",
             in, out, again);
  /* a host the resolver would read as IPv4 is that address */
  char h[300];
  size_t n = (size_t)(colon - host);
  if (n < sizeof h && host[0] != '[') {
    memcpy(h, host, n);
    h[n] = '\0';
    struct in_addr a;
    if (h[0] >= '0' && h[0] <= '9' && strspn(h, "0123456789abcdefx.") == n && inet_aton(h, &a)) {
      char dotted[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &a, dotted, sizeof dotted);
      FUZZ_CHECK(strcmp(h, dotted) == 0, "numeric host not canonical: %s -> %s", in, out);
    }
  }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 2048) return 0;
  char *in = fuzz_string(data, size);
  char out[400];
  if (nt3_canonical_origin(in, out, sizeof out) == 0) check_canonical(in, out);
  size_t bytes;
  if (nt3_parse_memory(in, (size_t)16 << 30, &bytes) == 0)
    FUZZ_CHECK(bytes >= (1u << 20) && bytes <= ((size_t)16 << 30), "%s -> %zu", in, bytes);
  const struct curl_api *api = fuzz_curl();
  CURLU *u = api->url();
  if (!u) abort();
  if (api->url_set(u, CURLUPART_URL, in, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    char *origin = nt3_http_origin(api, u);
    if (origin && nt3_canonical_origin(origin, out, sizeof out) == 0) check_canonical(origin, out);
    free(origin);
  }
  api->url_cleanup(u);
  free(in);
  return 0;
}
