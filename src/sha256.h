#ifndef NT3_SHA256_H
#define NT3_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4), for the extension lock's file and tree hashes and
 * nt3.fs.sha256. Streaming: init, any number of updates, final. */

#define NT3_SHA256_SIZE 32
#define NT3_SHA256_HEX_SIZE 65 /* 64 lowercase hex digits and a NUL */

struct nt3_sha256 {
  uint32_t h[8];
  uint64_t bytes; /* the message length so far */
  unsigned char block[64];
  size_t used; /* bytes of block filled */
};

void nt3_sha256_init(struct nt3_sha256 *c);
void nt3_sha256_update(struct nt3_sha256 *c, const void *data, size_t len);
/* The digest of everything given to update; c must be initialised again
 * before it hashes anything else. */
void nt3_sha256_final(struct nt3_sha256 *c, unsigned char out[NT3_SHA256_SIZE]);

/* digest as lowercase hex, NUL-terminated (what sha256sum prints) */
void nt3_sha256_hex(const unsigned char digest[NT3_SHA256_SIZE], char hex[NT3_SHA256_HEX_SIZE]);

/* Hashes what is left to read of fd, to its end, in 64 KiB reads (EINTR
 * retried): 0, or the errno of a failed read. */
int nt3_sha256_fd(int fd, unsigned char out[NT3_SHA256_SIZE]);

#endif
