/*
 * src/sha256.c: the compression with the SHA extensions (compress_ni)
 * against the portable one (compress), which the FIPS 180-4 vectors of
 * tests/sha256_spec.lua pin. The source is included, so that both static
 * functions are reachable. Input: any bytes, split into 64-byte blocks
 * (the last one padded with its length) and fed from a state taken from
 * the input's first 32 bytes as well as from the standard initial one.
 * Property: both give the same state after every block. On a processor
 * without SHA, SSSE3 and SSE4.1 there is nothing to compare and the
 * harness says so once.
 */
#include "../../src/sha256.c"

#include "fuzz.h"

#ifdef NT3_SHA_NI
static void compare(const uint32_t start[8], const unsigned char *data, size_t size) {
  uint32_t a[8], b[8];
  memcpy(a, start, sizeof a);
  memcpy(b, start, sizeof b);
  unsigned char block[64];
  for (size_t off = 0; off < size || off == 0; off += 64) {
    size_t n = size - off < 64 ? size - off : 64;
    memset(block, (int)(size & 0xff), sizeof block);
    if (n) memcpy(block, data + off, n);
    compress(a, block);
    compress_ni(b, block);
    FUZZ_CHECK(memcmp(a, b, sizeof a) == 0, "block at %zu of %zu bytes", off, size);
    if (size == 0) break;
  }
}
#endif

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
#ifdef NT3_SHA_NI
  static int checked, have;
  if (!checked) {
    checked = 1;
    have = have_sha_ni();
    if (!have) fprintf(stderr, "fuzz_sha256: this processor has no SHA extensions: nothing to compare\n");
  }
  if (!have) return 0;
  compare(H0, data, size);
  if (size >= 32) {
    uint32_t start[8];
    memcpy(start, data, sizeof start);
    compare(start, data + 32, size - 32);
  }
#else
  (void)data;
  (void)size;
#endif
  return 0;
}
