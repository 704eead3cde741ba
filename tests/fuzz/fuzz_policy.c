/*
 * src/policy.c: the sanitiser, the token mask and redaction, the loopback
 * and credential-header tests, on any bytes. Properties: printable text
 * holds no control byte; no text printed or redacted shows a token whole.
 */
#include <ctype.h>
#include <strings.h>

#include "fuzz.h"
#include "policy.h"

struct out {
  char buf[65536];
  size_t len;
};

static void collect(void *ud, const char *s, size_t n) {
  struct out *o = ud;
  if (n > sizeof o->buf - o->len) n = sizeof o->buf - o->len;
  memcpy(o->buf + o->len, s, n);
  o->len += n;
}

/* Whether the input holds a token-shaped run that is long enough for a
 * mask to hide part of it: then that run must not come out whole. */
static const char *long_token(const char *s, size_t n, size_t *len) {
  const char *p = memmem(s, n, "entri_", 6);
  if (!p) return NULL;
  size_t k = 6;
  while (p + k < s + n && (unsigned char)p[k] > 0x20 && (unsigned char)p[k] < 0x7f) k++;
  *len = k;
  int alnum = 0; /* 'entri_' and only punctuation is no token (policy.c) */
  for (size_t i = 6; i < k; i++) alnum |= isalnum((unsigned char)p[i]) != 0;
  return k >= 6 + 12 && alnum ? p : NULL;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 16384) return 0;
  const char *s = (const char *)data;
  static struct out o;

  o.len = 0;
  nt3_printable(collect, &o, s, size, 0);
  FUZZ_CHECK(!fuzz_has_control(o.buf, o.len) && !memchr(o.buf, '\n', o.len), "printable text with a control byte");
  size_t tlen = 0;
  const char *tok = long_token(s, size, &tlen);
  if (tok) FUZZ_CHECK(!memmem(o.buf, o.len, tok, tlen), "a token printed whole");

  o.len = 0;
  nt3_printable(collect, &o, s, size, 40);
  FUZZ_CHECK(!fuzz_has_control(o.buf, o.len), "cut printable text with a control byte");

  o.len = 0;
  nt3_redact(collect, &o, s, size);
  if (tok) FUZZ_CHECK(!memmem(o.buf, o.len, tok, tlen), "a token redacted whole");

  o.len = 0;
  nt3_mask(collect, &o, s, size);
  FUZZ_CHECK(o.len <= 6 + 4 + 4, "a mask longer than prefix, stars and tail");

  char *z = fuzz_string(data, size);
  if (nt3_is_loopback(z)) FUZZ_CHECK(strncmp(z, "127.", 4) == 0 || strcasecmp(z, "localhost") == 0 || z[0] == '[', "%s", z);
  (void)nt3_is_credential_header(s, size);
  free(z);
  return 0;
}
