/*
 * libcurl, loaded on demand. It is not linked: merely linking it costs
 * ~3 ms at every start (about thirty shared libraries to load and
 * relocate), and most nt3 runs never make a request. It is dlopen()ed on
 * the first request and its functions are kept in a struct held by a
 * userdata in the Lua registry.
 */
#include <dlfcn.h>

#include "internal.h"

#define LIBCURL_KEY "nt3.http.libcurl"

/* Resolves every function nt3 uses; returns the name of a missing one. */
static const char *resolve_symbols(void *lib, struct curl_api *api) {
  /* POSIX's sanctioned way to turn dlsym's void * into a function pointer */
#define RESOLVE(field, symbol) \
  if (!(*(void **)(&api->field) = dlsym(lib, symbol))) return symbol
  RESOLVE(global_init, "curl_global_init");
  RESOLVE(easy_init, "curl_easy_init");
  RESOLVE(easy_setopt, "curl_easy_setopt");
  RESOLVE(easy_getinfo, "curl_easy_getinfo");
  RESOLVE(easy_reset, "curl_easy_reset");
  RESOLVE(easy_cleanup, "curl_easy_cleanup");
  RESOLVE(easy_strerror, "curl_easy_strerror");
  RESOLVE(slist_append, "curl_slist_append");
  RESOLVE(slist_free_all, "curl_slist_free_all");
  RESOLVE(url, "curl_url");
  RESOLVE(url_dup, "curl_url_dup");
  RESOLVE(url_cleanup, "curl_url_cleanup");
  RESOLVE(url_set, "curl_url_set");
  RESOLVE(url_get, "curl_url_get");
  RESOLVE(url_strerror, "curl_url_strerror");
  RESOLVE(free, "curl_free");
  RESOLVE(multi_init, "curl_multi_init");
  RESOLVE(multi_setopt, "curl_multi_setopt");
  RESOLVE(multi_add_handle, "curl_multi_add_handle");
  RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
  RESOLVE(multi_perform, "curl_multi_perform");
  RESOLVE(multi_poll, "curl_multi_poll");
  RESOLVE(multi_info_read, "curl_multi_info_read");
  RESOLVE(multi_cleanup, "curl_multi_cleanup");
  RESOLVE(multi_strerror, "curl_multi_strerror");
  RESOLVE(share_init, "curl_share_init");
  RESOLVE(share_setopt, "curl_share_setopt");
  RESOLVE(share_cleanup, "curl_share_cleanup");
  RESOLVE(getdate, "curl_getdate");
  RESOLVE(version_info, "curl_version_info");
#undef RESOLVE
  return NULL;
}

static const struct curl_api *failed(lua_State *L, const char *fmt, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, fmt, what);
  lua_pushliteral(L, "unsupported");
  return NULL;
}

/*
 * curl_global_init runs once per Lua state, right after the dlopen; libcurl
 * counts its global_init calls itself, so more states would be harmless.
 * curl_global_cleanup is never called and the library is never dlclose()d:
 * libcurl's global state and the TLS library's exit handlers live in it,
 * and the process is about to end anyway.
 */
const struct curl_api *nt3_curl(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, LIBCURL_KEY) == LUA_TUSERDATA) {
    const struct curl_api *api = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return api;
  }
  lua_pop(L, 1);
  /* allocated before the dlopen, so a memory error cannot strand the handle */
  struct curl_api *api = lua_newuserdatauv(L, sizeof *api, 0);
  /* RTLD_LAZY: RTLD_NOW would bind every function of all ~30 libraries
   * libcurl pulls in (Kerberos, LDAP, RTMP, ...), most of which a request
   * never calls (measured: 21.6M -> 19.0M instructions for one `nt3 api`).
   * Every function nt3 itself calls is still checked with dlsym, so a
   * missing one is a clear error here, not a crash later. */
  void *lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    lua_pop(L, 1);
    return failed(L, "libcurl is not available: %s", why ? why : "dlopen failed");
  }
  const char *missing = resolve_symbols(lib, api);
  if (missing) {
    dlclose(lib);
    lua_pop(L, 1);
    return failed(L, "libcurl is not available: it has no %s (too old?)", missing);
  }
  CURLcode rc = api->global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    lua_pop(L, 1);
    return failed(L, "libcurl could not be initialised: %s", api->easy_strerror(rc));
  }
  lua_setfield(L, LUA_REGISTRYINDEX, LIBCURL_KEY);
  return api;
}
