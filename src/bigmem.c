/*
 * Large blocks in 2 MB pages (docs/architecture.md, "Large blocks"). On a
 * virtual machine the first write to each fresh 4 KB page is a fault that
 * costs microseconds, and a 10 MB body written once into fresh memory spent
 * more time in its 2,500 faults than in the copy. A block of 2 MB or more is
 * therefore a mapping of its own, aligned to 2 MB, as long as a whole
 * number of 2 MB pages, and advised MADV_HUGEPAGE: one fault per 2 MB where
 * the kernel has such pages to give (THP "madvise" or "always"), ordinary
 * pages where it has not. Growing such a block moves its pages (mremap)
 * rather than copying them; shrinking one unmaps its tail.
 *
 * The AddressSanitizer build keeps malloc for every size: a mapping of our
 * own would hide an overflow into its rounding, and a leak of it, from ASan.
 */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define NT3_PLAIN_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NT3_PLAIN_MALLOC 1
#endif
#endif

/*
 * glibc's malloc gives the top of its heap back (brk) whenever 128 KB of it
 * is free, and that happens all the time in a process whose Lua collector
 * frees a few hundred small objects a request: 10,000 GETs at concurrency
 * 10 made about 4,000 brk calls and 6,000-13,000 page faults, each fault
 * ~15 us here. Keeping up to NT3_TRIM_FROM free (and growing by 1 MB at a
 * time) makes those 7 calls and ~1,700 faults. Setting the threshold stops
 * glibc moving its mmap threshold by itself, so that one is set too, to the
 * size from which Lua's blocks are our own mappings anyway.
 */
void nt3_mem_init(void) {
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && !defined(NT3_PLAIN_MALLOC)
  mallopt(M_TRIM_THRESHOLD, (int)NT3_TRIM_FROM);
  mallopt(M_TOP_PAD, 1 << 20);
  mallopt(M_MMAP_THRESHOLD, (int)NT3_BIG_FROM);
#endif
}

#if defined(NT3_PLAIN_MALLOC) || !defined(MREMAP_MAYMOVE) || !defined(MREMAP_FIXED)

void *nt3_mem_realloc(void *ptr, size_t osize, size_t nsize) {
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}

#else

#define HUGE ((size_t)2 << 20)

/* The length of the mapping of a block of n bytes (n >= NT3_BIG_FROM), or 0. */
static size_t span(size_t n) { return n > SIZE_MAX - HUGE ? 0 : (n + HUGE - 1) & ~(HUGE - 1); }

/* len bytes (a multiple of HUGE) at an address aligned to HUGE, or NULL. */
static char *map(size_t len) {
  if (!len || len > SIZE_MAX - HUGE) return NULL;
  size_t over = len + HUGE;
  char *p = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  size_t head = (HUGE - ((uintptr_t)p & (HUGE - 1))) & (HUGE - 1);
  if (head) munmap(p, head);
  if (over - head > len) munmap(p + head + len, over - head - len);
#ifdef MADV_HUGEPAGE
  (void)madvise(p + head, len, MADV_HUGEPAGE); /* advice: refused, the pages are 4 KB */
#endif
  return p + head;
}

/* A block of the mapping at ptr (its length olen) with nlen bytes. */
static void *remap(char *ptr, size_t olen, size_t nlen) {
  if (nlen == olen) return ptr;
  if (nlen < olen) {
    munmap(ptr + nlen, olen - nlen);
    return ptr;
  }
  /* in place when the addresses after it are free: the mapping's advice
   * goes with it */
  if (mremap(ptr, olen, nlen, 0) != MAP_FAILED) return ptr;
  char *q = map(nlen);
  if (!q) return NULL;
  /* the pages move into the start of the new mapping, none copied */
  if (mremap(ptr, olen, olen, MREMAP_MAYMOVE | MREMAP_FIXED, q) == MAP_FAILED) {
    memcpy(q, ptr, olen);
    munmap(ptr, olen);
  }
  return q;
}

void *nt3_mem_realloc(void *ptr, size_t osize, size_t nsize) {
  int big = ptr && osize >= NT3_BIG_FROM;
  if (nsize == 0) {
    if (big)
      munmap(ptr, span(osize));
    else
      free(ptr);
    return NULL;
  }
  if (nsize < NT3_BIG_FROM) {
    /* a new block is most of Lua's allocations (a table, a string):
     * malloc is realloc's own path for NULL without its detour */
    if (!ptr) return malloc(nsize);
    if (!big) return realloc(ptr, nsize);
    void *p = malloc(nsize);
    if (!p) return NULL;
    memcpy(p, ptr, nsize);
    munmap(ptr, span(osize));
    return p;
  }
  size_t nlen = span(nsize);
  if (!nlen) return NULL;
  if (big) return remap(ptr, span(osize), nlen);
  char *q = map(nlen);
  if (!q) return NULL;
  if (ptr) {
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    free(ptr);
  }
  return q;
}

#endif
