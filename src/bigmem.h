#ifndef NT3_BIGMEM_H
#define NT3_BIGMEM_H

#include <stddef.h>

/* Blocks of NT3_BIG_FROM bytes or more are mapped on their own, 2 MB
 * aligned and in whole 2 MB pages (docs/architecture.md, "Large blocks");
 * smaller ones are malloc's. A block is told apart by its size alone, so
 * the caller keeps it: osize is the size the block was given (0 with ptr
 * NULL), nsize the size wanted (0 frees, and returns NULL). Like realloc,
 * NULL when there is not enough memory, the old block left as it was. */
#define NT3_BIG_FROM ((size_t)2 << 20)
void *nt3_mem_realloc(void *ptr, size_t osize, size_t nsize);

/* Once, first thing in main: malloc keeps the free memory at the top of
 * its heap (up to NT3_TRIM_FROM) instead of giving it back to the kernel
 * and faulting it in again (docs/architecture.md, "Large blocks"). */
#define NT3_TRIM_FROM ((size_t)8 << 20)
void nt3_mem_init(void);

#endif
