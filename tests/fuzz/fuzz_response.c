/*
 * bindings/http/response.c: a response head from the input (the empty
 * input: a head that was never given memory) turned into the response
 * table, Location and Retry-After read from it. Properties: no crash, no
 * undefined behaviour; a header value holds no line break. And the same
 * input as a secret and a body streamed in pieces (nt3_http_mask_stream,
 * a sandbox's streamed API body): what is handed on, piece by piece, is
 * the body masked at once, and holds no copy of the secret.
 */
#include "fuzz.h"

/* data[0] says how long the secret is, data[1] how long the pieces are;
 * then the secret, then the body */
static void mask_in_pieces(const unsigned char *data, size_t size) {
  if (size < 3) return;
  size_t slen = (size_t)data[0] % 12 + 1, piece = (size_t)data[1] % 7 + 1;
  if (size < 2 + slen) return;
  char secret[16];
  memcpy(secret, data + 2, slen);
  secret[slen] = '\0';
  if (strlen(secret) != slen) return;
  const char *body = (const char *)data + 2 + slen;
  size_t blen = size - 2 - slen;
  char *whole = malloc(blen + 1), *out = malloc(blen + 1), *held = malloc(blen + slen + 1);
  if (!whole || !out || !held) abort();
  memcpy(whole, body, blen);
  nt3_http_mask(whole, blen, secret);
  size_t have = 0, sent = 0;
  for (size_t at = 0; at <= blen; at += piece) {
    size_t n = blen - at < piece ? blen - at : piece;
    int last = at + piece > blen;
    memcpy(held + have, body + at, n);
    have += n;
    size_t go = nt3_http_mask_stream(held, have, secret, last);
    FUZZ_CHECK(go <= have, "hands on more than it holds");
    memcpy(out + sent, held, go);
    sent += go;
    memmove(held, held + go, have - go);
    have -= go;
    if (last) break;
  }
  FUZZ_CHECK(sent == blen && have == 0, "bytes lost or kept");
  /* (masking writes '*': a secret holding one can be made again of them,
   * and then where the pieces were cut changes what is made; a token may
   * hold '*', a known limit, docs/sandbox.md) */
  int starred = memchr(secret, '*', slen) != NULL;
  FUZZ_CHECK(starred || memcmp(out, whole, blen) == 0, "masked in pieces is not masked at once");
  FUZZ_CHECK(starred || !memmem(out, blen, secret, slen), "a copy of the secret was handed on");
  free(whole);
  free(out);
  free(held);
}

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
  lua_getfield(L, -1, "headers"); /* made on first read, as header_list */
  FUZZ_CHECK(lua_istable(L, -1), "no headers table");
  lua_pop(L, 1);
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
  mask_in_pieces(data, size);
  return 0;
}
