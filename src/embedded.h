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

/* A built-in command as help lists it, read at build time from the table
 * lua/commands/<name>.lua returns (src/embedgen.c); sorted by name. */
struct nt3_command {
  const char *name;    /* "login" */
  const char *summary;
  const char *aliases; /* separated by spaces: "auth" */
  int hidden;
  /* what completion needs of it, as Lua text "return { flags = ..., args
   * = ..., ... }"; NULL when the build could not read it as plain data */
  const char *shape;
};

extern const struct nt3_command nt3_commands[];
extern const int nt3_command_count;

/* The embedded module of that name, or NULL (src/runtime.c). */
const struct nt3_module *nt3_find_module(const char *name);

#endif
