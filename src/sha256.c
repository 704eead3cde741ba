/*
 * SHA-256 as FIPS 180-4 specifies it: section numbers below are the
 * standard's. Constant time is not a concern here: what is hashed is file
 * content nt3 verifies, not a secret.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

/* 4.2.2: the first 32 bits of the fractional parts of the cube roots of
 * the first 64 primes */
static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* 5.3.3: the first 32 bits of the fractional parts of the square roots of
 * the first 8 primes */
static const uint32_t H0[8] = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* 3.2 and 4.1.2 */
static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
static uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
static uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
static uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
static uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

static uint32_t load_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* One round of 6.2.2 step 3 with the eight working variables named, not
 * moved: the next round is the same with them rotated one place (d and h
 * are the two that change), so eight rounds bring every name back home.
 * Ch and Maj as 4.1.2 writes them, in fewer operations. */
#define ROUND(a, b, c, d, e, f, g, h, t)                                                    \
  do {                                                                                      \
    uint32_t t1 = h + big_sigma1(e) + ((e & (f ^ g)) ^ g) + K[t] + w[t];                    \
    d += t1;                                                                                \
    h = t1 + big_sigma0(a) + ((a & b) | (c & (a | b)));                                     \
  } while (0)

/* 6.2.2: one 512-bit block into the hash value */
static void compress(uint32_t h[8], const unsigned char *block) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++) w[t] = load_be32(block + 4 * t);
  for (int t = 16; t < 64; t++) w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; t += 8) {
    ROUND(a, b, c, d, e, f, g, hh, t);
    ROUND(hh, a, b, c, d, e, f, g, t + 1);
    ROUND(g, hh, a, b, c, d, e, f, t + 2);
    ROUND(f, g, hh, a, b, c, d, e, t + 3);
    ROUND(e, f, g, hh, a, b, c, d, t + 4);
    ROUND(d, e, f, g, hh, a, b, c, t + 5);
    ROUND(c, d, e, f, g, hh, a, b, t + 6);
    ROUND(b, c, d, e, f, g, hh, a, t + 7);
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

/*
 * The same compression with the x86 SHA extensions (SHA-NI: SHA256RNDS2
 * does two rounds, SHA256MSG1/MSG2 the message schedule four words at a
 * time), about a tenth of the instructions of the portable rounds above.
 * The state is kept as two vectors, ABEF and CDGH, as the instructions
 * want it. Used only when CPUID says the processor has SHA, SSSE3 and
 * SSE4.1; tests/fuzz/fuzz_sha256.c checks it against the portable one.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define NT3_SHA_NI 1

__attribute__((target("sha,sse4.1,ssse3"))) static void compress_ni(uint32_t h[8], const unsigned char *block) {
  /* big-endian words: reverse the bytes of each 32-bit lane */
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i abcd = _mm_loadu_si128((const __m128i *)(const void *)h);
  __m128i efgh = _mm_loadu_si128((const __m128i *)(const void *)(h + 4));
  __m128i badc = _mm_shuffle_epi32(abcd, 0xB1);
  __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);
  __m128i abef = _mm_alignr_epi8(badc, hgfe, 8); /* lanes f e b a */
  __m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xF0); /* lanes h g d c */
  const __m128i abef0 = abef, cdgh0 = cdgh;
  __m128i m[4];
  for (int i = 0; i < 4; i++) m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(block + 16 * i)), swap);
  for (int g = 0; g < 16; g++) {
    /* words 4g..4g+3 of the schedule: 6.2.2 step 1, four at a time */
    if (g >= 4) {
      __m128i x = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
      x = _mm_add_epi32(x, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
      m[g & 3] = _mm_sha256msg2_epu32(x, m[(g + 3) & 3]);
    }
    __m128i wk = _mm_add_epi32(m[g & 3], _mm_loadu_si128((const __m128i *)(const void *)(K + 4 * g)));
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
    abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
  }
  abef = _mm_add_epi32(abef, abef0);
  cdgh = _mm_add_epi32(cdgh, cdgh0);
  __m128i abfe = _mm_shuffle_epi32(abef, 0x1B); /* lanes a b e f */
  __m128i ghcd = _mm_shuffle_epi32(cdgh, 0xB1); /* lanes g h c d */
  _mm_storeu_si128((__m128i *)(void *)h, _mm_blend_epi16(abfe, ghcd, 0xF0));
  _mm_storeu_si128((__m128i *)(void *)(h + 4), _mm_alignr_epi8(ghcd, abfe, 8));
}

/* CPUID leaf 7 EBX bit 29: SHA; leaf 1 ECX bits 9 and 19: SSSE3, SSE4.1 */
static int have_sha_ni(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19))) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b >> 29) & 1;
}
#endif

/* the compression in use: the portable one until the first hash decides */
static void compress_first(uint32_t h[8], const unsigned char *block);
static void (*compress_fn)(uint32_t h[8], const unsigned char *block) = compress_first;

static void compress_first(uint32_t h[8], const unsigned char *block) {
  compress_fn = compress;
#ifdef NT3_SHA_NI
  if (have_sha_ni()) compress_fn = compress_ni;
#endif
  compress_fn(h, block);
}

void nt3_sha256_init(struct nt3_sha256 *c) {
  memcpy(c->h, H0, sizeof c->h);
  c->bytes = 0;
  c->used = 0;
}

void nt3_sha256_update(struct nt3_sha256 *c, const void *data, size_t len) {
  const unsigned char *p = data;
  c->bytes += len;
  if (c->used > 0) {
    size_t take = sizeof c->block - c->used;
    if (take > len) take = len;
    memcpy(c->block + c->used, p, take);
    c->used += take;
    p += take;
    len -= take;
    if (c->used < sizeof c->block) return;
    compress_fn(c->h, c->block);
    c->used = 0;
  }
  for (; len >= sizeof c->block; p += sizeof c->block, len -= sizeof c->block) compress_fn(c->h, p);
  memcpy(c->block, p, len);
  c->used = len;
}

/* 5.1.1: a 1 bit, zeros up to 448 bits mod 512, the length in bits as a
 * 64-bit big-endian number */
void nt3_sha256_final(struct nt3_sha256 *c, unsigned char out[NT3_SHA256_SIZE]) {
  uint64_t bits = c->bytes * 8;
  c->block[c->used++] = 0x80;
  if (c->used > 56) {
    memset(c->block + c->used, 0, sizeof c->block - c->used);
    compress_fn(c->h, c->block);
    c->used = 0;
  }
  memset(c->block + c->used, 0, 56 - c->used);
  store_be32(c->block + 56, (uint32_t)(bits >> 32));
  store_be32(c->block + 60, (uint32_t)bits);
  compress_fn(c->h, c->block);
  for (int i = 0; i < 8; i++) store_be32(out + 4 * i, c->h[i]);
  c->used = 0;
}

void nt3_sha256_hex(const unsigned char digest[NT3_SHA256_SIZE], char hex[NT3_SHA256_HEX_SIZE]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < NT3_SHA256_SIZE; i++) {
    hex[2 * i] = digits[digest[i] >> 4];
    hex[2 * i + 1] = digits[digest[i] & 0xf];
  }
  hex[2 * NT3_SHA256_SIZE] = '\0';
}

int nt3_sha256_fd(int fd, unsigned char out[NT3_SHA256_SIZE]) {
  unsigned char buf[65536];
  struct nt3_sha256 c;
  nt3_sha256_init(&c);
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;
    nt3_sha256_update(&c, buf, (size_t)n);
  }
  nt3_sha256_final(&c, out);
  return 0;
}
