/*
 * What the libFuzzer harnesses of tests/fuzz/ share: libcurl's functions
 * in the struct nt3's HTTP code calls them through (linked here, where nt3
 * itself dlopen()s them: bindings/http/curl.c), and a check that stops the
 * run with a message when a property fails.
 */
#ifndef NT3_FUZZ_H
#define NT3_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static inline const struct curl_api *fuzz_curl(void) {
  static struct curl_api api;
  if (!api.url) {
    api.global_init = curl_global_init;
    api.easy_strerror = curl_easy_strerror;
    api.slist_append = curl_slist_append;
    api.slist_free_all = curl_slist_free_all;
    api.url = curl_url;
    api.url_dup = (CURLU * (*)(const CURLU *))curl_url_dup; /* const in later headers */
    api.url_cleanup = curl_url_cleanup;
    api.url_set = curl_url_set;
    api.url_get = (CURLUcode(*)(const CURLU *, CURLUPart, char **, unsigned))curl_url_get;
    api.url_strerror = curl_url_strerror;
    api.free = curl_free;
    api.getdate = curl_getdate;
  }
  return &api;
}

/* One Lua state for every run of a harness. */
static inline lua_State *fuzz_lua(void) {
  static lua_State *L;
  if (!L && !(L = luaL_newstate())) abort();
  return L;
}

/* A copy of the input with a NUL at its end. */
static inline char *fuzz_string(const unsigned char *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

#define FUZZ_CHECK(cond, ...)                               \
  do {                                                      \
    if (!(cond)) {                                          \
      fprintf(stderr, "property failed: " #cond ": " __VA_ARGS__); \
      fputc('\n', stderr);                                  \
      abort();                                              \
    }                                                       \
  } while (0)

/* Whether s[0..n) holds a control byte other than newline, or DEL. */
static inline int fuzz_has_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\n') || c == 0x7f) return 1;
  }
  return 0;
}

#endif
