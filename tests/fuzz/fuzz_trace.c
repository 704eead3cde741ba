/*
 * bindings/http/trace.c: the NT3_DEBUG trace of a header block from the
 * input, and of an Authorization and a Cookie line around a known secret.
 * Properties: the trace holds no control byte but newlines, and never the
 * secret, whatever comes before or after it.
 */
#include "fuzz.h"

#define SECRET "qS3CR3Tq"

static char *out;
static size_t out_len;

/* Runs the trace of one block with stderr caught in memory. libFuzzer's
 * own output and the sanitizers' keep the real stderr: they took it at
 * start, or write to file descriptor 2. */
static void trace(curl_infotype type, const char *block, size_t n) {
  free(out);
  out = NULL;
  out_len = 0;
  FILE *mem = open_memstream(&out, &out_len);
  if (!mem) abort();
  FILE *real = stderr;
  stderr = mem;
  nt3_http_on_debug(NULL, type, (char *)block, n, NULL);
  stderr = real;
  fclose(mem);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size > 8192) return 0;
  trace(CURLINFO_HEADER_IN, (const char *)data, size);
  FUZZ_CHECK(!fuzz_has_control(out, out_len), "a control byte in the trace");

  /* the input on either side of the secret, on one line */
  size_t half = size / 2, cut = 0;
  while (cut < size && data[cut] != '\n' && data[cut] != '\r') cut++;
  if (half > cut) half = cut;
  static const char *const heads[] = {"Authorization: ", "Proxy-Authorization: Bearer ", "Cookie: ", "authorization:"};
  for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
    size_t hl = strlen(heads[h]), len = hl + half + strlen(SECRET) + (cut - half);
    char *line = malloc(len);
    if (!line) abort();
    memcpy(line, heads[h], hl);
    memcpy(line + hl, data, half);
    memcpy(line + hl + half, SECRET, strlen(SECRET));
    memcpy(line + hl + half + strlen(SECRET), data + half, cut - half);
    trace(CURLINFO_HEADER_OUT, line, len);
    FUZZ_CHECK(!memmem(out, out_len, "S3CR3T", 6), "the secret in the trace: %.*s", (int)out_len, out);
    free(line);
  }
  return 0;
}
