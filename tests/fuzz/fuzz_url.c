/*
 * bindings/http/url.c and proxy.c: the network policy on a URL as
 * libcurl parses it, the origin and the URL shown in messages, and the
 * proxy choice. Input: a URL, then optionally a newline and a no_proxy
 * value. Properties: an accepted URL is http or https, plain http only to
 * a loopback host, without user info; the URL shown holds no query; a
 * loopback host never gets a proxy; http.parse_url's plain case, the
 * input against a few bases and as a base, is libcurl's answer.
 */
#include <strings.h>

#include "fuzz.h"
#include "policy.h"

/* http.parse_url's plain case (nt3_http_resolve_plain) against libcurl's
 * own resolution: the same URL, origin and URL shown, or not taken. */
static void check_plain(const struct curl_api *api, const char *base, const char *ref) {
  struct nt3_plain_url plain;
  if (!nt3_http_resolve_plain(base, ref, &plain)) return;
  CURLU *u = api->url();
  if (!u) abort();
  char *full = NULL;
  int ok = api->url_set(u, CURLUPART_URL, base, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
           api->url_set(u, CURLUPART_URL, ref, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
           api->url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
           api->url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK;
  FUZZ_CHECK(ok, "libcurl refuses what the plain case took: %s against %s", ref, base);
  FUZZ_CHECK(strcmp(full, plain.url) == 0, "%s against %s: %s, libcurl %s", ref, base, plain.url, full);
  char *origin = nt3_http_origin(api, u), *mine = nt3_http_parts_origin(&plain.parts);
  FUZZ_CHECK(origin && mine && strcmp(origin, mine) == 0, "origin of %s against %s: %s, libcurl %s", ref, base, mine, origin);
  char shown[600], shown_mine[600];
  nt3_http_display_url(api, u, shown, sizeof shown);
  nt3_http_parts_shown(&plain.parts, shown_mine, sizeof shown_mine);
  FUZZ_CHECK(strcmp(shown, shown_mine) == 0, "shown %s against %s: %s, libcurl %s", ref, base, shown_mine, shown);
  free(origin);
  free(mine);
  api->free(full);
  api->url_cleanup(u);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 4096) return 0;
  const struct curl_api *api = fuzz_curl();
  char *in = fuzz_string(data, size);
  char *no_proxy = strchr(in, '\n');
  if (no_proxy) *no_proxy++ = '\0';
  /* the input as a reference against a few bases, and as a base */
  static const char *const bases[] = {"https://example.com/a/b?c#d", "http://127.0.0.1:8080/x", "https://h.example:8443"};
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) check_plain(api, bases[i], in);
  check_plain(api, in, "/items?page=2");
  CURLU *u = api->url();
  if (!u) abort();
  if (api->url_set(u, CURLUPART_URL, in, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    char why[600], shown[600];
    const char *refused = nt3_http_refuse_url(api, u, why, sizeof why);
    char *scheme = nt3_http_part(api, u, CURLUPART_SCHEME, 0);
    char *host = nt3_http_part(api, u, CURLUPART_HOST, 0);
    char *user = nt3_http_part(api, u, CURLUPART_USER, 0);
    if (!refused) {
      FUZZ_CHECK(scheme && (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "http") == 0), "%s", in);
      FUZZ_CHECK(strcasecmp(scheme, "https") == 0 || (host && nt3_is_loopback(host)), "%s", in);
      FUZZ_CHECK(!user, "user info accepted: %s", in);
    }
    nt3_http_display_url(api, u, shown, sizeof shown);
    /* the query and the fragment are never shown: without them the URL
     * is shown the same */
    CURLU *bare = api->url_dup(u);
    if (!bare) abort();
    api->url_set(bare, CURLUPART_QUERY, NULL, 0);
    api->url_set(bare, CURLUPART_FRAGMENT, NULL, 0);
    char shown_bare[600];
    nt3_http_display_url(api, bare, shown_bare, sizeof shown_bare);
    FUZZ_CHECK(strcmp(shown, shown_bare) == 0, "a query shown: %s -> %s", in, shown);
    api->url_cleanup(bare);
    free(nt3_http_origin(api, u));
    if (host) {
      setenv("https_proxy", "http://127.0.0.1:9", 1);
      if (no_proxy) setenv("no_proxy", no_proxy, 1);
      else unsetenv("no_proxy");
      char *proxy = nt3_http_proxy_for(scheme ? scheme : "https", host);
      if (nt3_is_loopback(host)) FUZZ_CHECK(!proxy, "a proxy for loopback %s", host);
      if (proxy) {
        char at[300];
        nt3_http_proxy_place(api, proxy, at, sizeof at);
      }
      free(proxy);
    }
    free(scheme);
    free(host);
    free(user);
  }
  api->url_cleanup(u);
  free(in);
  return 0;
}
