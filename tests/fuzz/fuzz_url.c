/*
 * bindings/http/url.c and proxy.c: the network policy on a URL as
 * libcurl parses it, the origin and the URL shown in messages, and the
 * proxy choice. Input: a URL, then optionally a newline and a no_proxy
 * value. Properties: an accepted URL is http or https, plain http only to
 * a loopback host, without user info; the URL shown holds no query; a
 * loopback host never gets a proxy.
 */
#include <strings.h>

#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 4096) return 0;
  const struct curl_api *api = fuzz_curl();
  char *in = fuzz_string(data, size);
  char *no_proxy = strchr(in, '\n');
  if (no_proxy) *no_proxy++ = '\0';
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
