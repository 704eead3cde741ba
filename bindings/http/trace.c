/*
 * The NT3_DEBUG trace of request and response headers, with credentials
 * masked (docs/architecture.md, invariant 5): every line, the request line included,
 * is shown as printable text with any token-shaped text masked, and the
 * value of a credential header whatever it looks like.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "policy.h"

static void to_stderr(void *ud, const char *s, size_t n) {
  (void)ud;
  fwrite(s, 1, n, stderr);
}

/* Authorization schemes whose name is shown before the masked credential;
 * a value that starts with anything else is masked whole ("s3cr3t x" is
 * not a scheme and a credential, it may be all credential). */
static int known_scheme(const char *s, size_t len) {
  static const char *const schemes[] = {"Basic", "Bearer", "Digest", "DPoP", "Negotiate", "NTLM", "OAuth", "Token", NULL};
  for (int i = 0; schemes[i]; i++)
    if (strlen(schemes[i]) == len && strncasecmp(s, schemes[i], len) == 0) return 1;
  return 0;
}

/* The scheme of an Authorization ("Bearer") and the masked credential; for
 * a cookie only "****". */
static void print_header_line(const char *mark, const char *line, size_t len) {
  const char *colon = memchr(line, ':', len);
  size_t nlen = colon ? (size_t)(colon - line) : 0;
  fputs(mark, stderr);
  if (!colon || !nt3_is_credential_header(line, nlen)) {
    nt3_printable(to_stderr, NULL, line, len, 0);
    fputc('\n', stderr);
    return;
  }
  nt3_printable(to_stderr, NULL, line, nlen, 0);
  fputs(": ", stderr);
  const char *v = colon + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  const char *space = memchr(v, ' ', (size_t)(end - v));
  int auth = nlen >= 13 && strncasecmp(line + nlen - 13, "Authorization", 13) == 0;
  if (auth && space && known_scheme(v, (size_t)(space - v))) { /* the scheme is no secret */
    nt3_printable(to_stderr, NULL, v, (size_t)(space - v), 0);
    fputc(' ', stderr);
    v = space + 1;
  }
  if (auth)
    nt3_mask(to_stderr, NULL, v, (size_t)(end - v));
  else
    fputs("****", stderr);
  fputc('\n', stderr);
}

/* Prints each header line of a block, "> " for ours and "< " for theirs. */
int nt3_http_on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp) {
  (void)h;
  (void)userp;
  if (type != CURLINFO_HEADER_OUT && type != CURLINFO_HEADER_IN) return 0;
  const char *mark = type == CURLINFO_HEADER_OUT ? "> " : "< ";
  const char *p = data, *end = data + size;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *stop = eol ? eol : end;
    size_t len = (size_t)(stop - p);
    if (len > 0 && p[len - 1] == '\r') len--;
    if (len > 0) print_header_line(mark, p, len);
    p = eol ? eol + 1 : end;
  }
  return 0;
}

/* "* <what nt3 does>" lines of the trace, made printable too */
void nt3_http_trace(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  fputs("* ", stderr);
  nt3_printable(to_stderr, NULL, line, strlen(line), 0);
  fputc('\n', stderr);
}
