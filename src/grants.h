#ifndef NT3_GRANTS_H
#define NT3_GRANTS_H

/*
 * The parts of a sandbox's permissions that are parsed from text, in plain
 * C with no Lua, so the fuzz harness reaches them (docs/architecture.md,
 * "Sandboxed commands").
 */
#include <stddef.h>

/* An origin "scheme://host[:port]" (a trailing "/" allowed), as a grant
 * names it or as nt3_http_origin gives it, in its one canonical form:
 * scheme http or https, lower case, the port explicit, a numeric host in
 * the form the kernel connects to (127.1, 0x7f.0.0.1, 2130706433 and
 * [::ffff:127.0.0.1] are all "127.0.0.1"; IPv6 compressed in brackets), a
 * name without its trailing dot. No user info, path, query or fragment.
 * Returns 0, or -1 when spec is not such an origin. */
int nt3_canonical_origin(const char *spec, char *out, size_t size);

/* A memory size "256M", "1G", "65536", "512K" (binary units) into *bytes.
 * Returns 0, or -1 when it is not one or lies outside [1 MiB, max]. */
int nt3_parse_memory(const char *spec, size_t max, size_t *bytes);

#endif
