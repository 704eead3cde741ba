#ifndef NT3_POLICY_H
#define NT3_POLICY_H

/*
 * The security rules that more than one part of nt3 needs, each written
 * once (docs/architecture.md, "One home for each rule"). C callers use these
 * functions; Lua reaches the same code through the nt3.policy module.
 */
#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

/* The public prefix of every token. */
#define NT3_TOKEN_PREFIX "entri_"

/* The folder's credential file (nt3 login --local), in the folder it is
 * for. */
#define NT3_LOCAL_FILE ".nt3.local.json"

/* A file name that is the folder's credential file or one of nt3's own
 * beside it: its lock, ".nt3.local.json.lock", and the temp files of its
 * atomic write, "..nt3.local.json.tmp-*". Never opened beneath a root
 * (src/beneath.h): a sandbox granted a folder never reads the token in it. */
int nt3_is_local_file_name(const char *name);

/* A host as it appears in a URL ("localhost", "127.0.0.1", "[::1]") that
 * names this machine. Dotted-quad IPv4 only, as inet_pton reads it:
 * "127.0.0.08" and "127.1" are not addresses but names. */
/* A numeric host, "192.0.2.1", "[::1]" or "::1": its family (AF_INET,
 * AF_INET6) with the address in addr (4 or 16 bytes), else 0. */
int nt3_parse_address(const char *host, unsigned char addr[16]);
int nt3_is_loopback(const char *host);

/* NT3_DEBUG is set to something other than "" or "0". */
int nt3_debug_enabled(void);

/* Authorization, Proxy-Authorization, Cookie, Set-Cookie: headers whose
 * value is a credential, never shown and never sent to another origin
 * (Set-Cookie is only ever received). */
int nt3_is_credential_header(const char *name, size_t len);

/* Seconds on a clock that never jumps (CLOCK_MONOTONIC). */
double nt3_monotonic(void);

/* Where the text functions below write: called with each piece in turn
 * (a luaL_Buffer, stderr, ...). */
typedef void (*nt3_sink)(void *ud, const char *s, size_t n);

/* The masked form of a token: "entri_****abcd", the last four characters
 * only when at least eight others stay hidden. */
void nt3_mask(nt3_sink out, void *ud, const char *token, size_t len);

/* Text with every token-shaped run ("entri_" up to white space) masked. */
void nt3_redact(nt3_sink out, void *ud, const char *s, size_t len);

/* Text from outside (a server, a file name, an argument) as one printable
 * line, token-shaped runs masked: white space controls become a space;
 * other controls, DEL, C1 controls, bidi and other invisible format
 * characters, and bytes that are not UTF-8 become '?'. At most `max`
 * bytes of the input are used (0: all); a cut adds "...". */
void nt3_printable(nt3_sink out, void *ud, const char *s, size_t len, size_t max);

/* nt3_printable, told how: NT3_TEXT_LINES keeps '\n' and '\t' (text for
 * a terminal, many lines of it); NT3_TEXT_UNMASKED leaves tokens as they
 * are (a body the user asked for). */
#define NT3_TEXT_LINES 1u
#define NT3_TEXT_UNMASKED 2u
void nt3_printable_as(nt3_sink out, void *ud, const char *s, size_t len, size_t max, unsigned how);


int luaopen_nt3_policy(lua_State *L);

#endif
