/*
 * bindings/http/response.c: a response head from the input (the empty
 * input: a head that was never given memory) turned into the response
 * table, Location and Retry-After read from it. Properties: no crash, no
 * undefined behaviour; a header value holds no line break.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 65536) return 0;
  lua_State *L = fuzz_lua();
  struct transfer t;
  memset(&t, 0, sizeof t);
  t.status = 200;
  t.version = CURL_HTTP_VERSION_1_1;
  if (size) {
    t.head.data = malloc(size);
    if (!t.head.data) abort();
    memcpy(t.head.data, data, size);
    t.head.len = t.head.cap = size;
  }
  int n = nt3_http_push_result(L, &t);
  FUZZ_CHECK(n == 1 && lua_istable(L, -1), "no response table");
  lua_getfield(L, -1, "header_list");
  lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= count; i++) {
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "value");
    size_t vlen;
    const char *v = lua_tolstring(L, -1, &vlen);
    FUZZ_CHECK(v && !memchr(v, '\n', vlen), "a header value with a line break");
    lua_pop(L, 2);
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT); /* what a run allocated is freed in the run: LeakSanitizer stays quiet */
  free(nt3_http_header(&t.head, "Location"));
  (void)nt3_http_retry_after(fuzz_curl(), &t.head);
  free(t.head.data);
  return 0;
}
