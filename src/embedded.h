#ifndef NT3_EMBEDDED_H
#define NT3_EMBEDDED_H

#include <stddef.h>

/* One Lua module compiled into the binary (the table is generated). */
struct nt3_module {
  const char *name;  /* "nt3.cli" */
  const char *file;  /* "lua/nt3/cli.lua": also the chunk name */
  const unsigned char *code;
  size_t size;
};

extern const struct nt3_module nt3_modules[];
extern const int nt3_module_count;

/* The embedded module of that name, or NULL (src/runtime.c). */
const struct nt3_module *nt3_find_module(const char *name);

#endif
