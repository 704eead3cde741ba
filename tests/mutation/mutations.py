# (id, file, exact old text, new text, [(spec, busted --filter or None), ...])
S, G, B = "src/sandbox.c", "src/grants.c", "src/beneath.c"
SB = "sandbox"
MUTATIONS = [
    # --- api ---
    ("api-method", S, "if (!(s->api_methods & (unsigned)method_bit(method))) {", "if (0) {", [(SB, "api")]),
    ("api-origin", S, "if (!known || strcmp(canon, s->api_origin) != 0) {", "if (0) {", [(SB, "api")]),
    ("api-no-grant", S, "if (!s->api_methods) return refuse(L, what, \"api\");", "", [(SB, "api")]),
    ("api-strip-auth", "bindings/http/request.c", "if ((req->auth && nt3_is_credential_header(line, nlen)) ||", "if ((0) ||", [(SB, "api")]),
    ("api-strip-host", "bindings/http/request.c", "(req->gate && nlen == 4 && strncasecmp(line, \"Host\", 4) == 0)", "(0)", [(SB, "api")]),
    ("mask-head", "bindings/http/response.c", "mask_in(t->head.data, t->head.len, t->req.secret);", "", [(SB, None)]),
    ("mask-body", "bindings/http/response.c", "mask_in(t->body_buf.data, t->body_buf.len, t->req.secret);", "", [(SB, "token")]),
    ("mask-message", "bindings/http/response.c", "mask_in(t->message, strlen(t->message), t->req.secret);", "", [(SB, None)]),
    ("mask-url", "bindings/http/response.c", "if (t->final_url) mask_in(t->final_url, strlen(t->final_url), t->req.secret);", "", [(SB, None)]),
    ("api-sink", "bindings/http/http.c", "if (a && req.has_sink) return", "if (0) return", [(SB, None)]),
    # --- http ---
    ("http-origin", S, "if (!known || !list_has(&s->http, canon)) {", "if (0) {", [(SB, "http")]),
    ("http-first-hop", "bindings/http/engine.c", "if (t->req.gate && t->req.gate->allow(", "if (0 && t->req.gate->allow(", [(SB, "http")]),
    ("http-redirect", "bindings/http/redirect.c", "  if (t->req.gate) {\n    /* a sandbox judges every hop", "  if (0) {\n    /* a sandbox judges every hop", [(SB, "redirect")]),
    ("numeric-aton", G, "if (inet_aton(h, &a)) {", "if (0) {", [(SB, "http")]),
    ("ipv4-mapped", G, "if (memcmp(addr, mapped, 12) == 0) {", "if (0) {", [(SB, "http")]),
    ("origin-userinfo", G, "if (*q == '@' || *q == '/'", "if (*q == '/'", [(SB, None)]),
    ("url-userinfo", "bindings/http/url.c", "} else if (user || password) {", "} else if (0) {", [(SB, "http")]),
    ("origin-lowercase", G, "h[i] = (char)tolower((unsigned char)host[i]);", "h[i] = host[i];", [(SB, "http")]),
    ("http-output", "bindings/http/http.c", "if (req.output || req.cafile)", "if (req.cafile)", [(SB, "http")]),
    ("http-cafile", "bindings/http/http.c", "if (req.output || req.cafile)", "if (req.output)", [(SB, "http")]),
    # --- env, proc, prompt ---
    ("env-get", S, "if (!list_has(&s->env, name)) return refuse(L, what, \"env\");", "", [(SB, "env")]),
    ("env-token", S, "if (strcmp(v, \"NT3_API_TOKEN\") == 0) {", "if (0) {", [(SB, "token")]),
    ("proc-list", S, "if (!list_has(&s->proc, prog)) return refuse(L, what, \"proc\");", "", [(SB, "proc")]),
    ("proc-env", "bindings/proc.c", "if (lua_getfield(L, LUA_REGISTRYINDEX, NT3_PROC_ENVIRON) == LUA_TLIGHTUSERDATA) {", "if (lua_getfield(L, LUA_REGISTRYINDEX, NT3_PROC_ENVIRON) == -99) {", [(SB, "proc")]),
    ("proc-env-arg", "bindings/proc.c", "if (envarg) refused_in_sandbox(L, \"env\");", "", [(SB, "proc")]),
    ("proc-cwd-arg", "bindings/proc.c", "if (sandboxed(L)) refused_in_sandbox(L, \"cwd\");", "", [(SB, "proc")]),
    ("proc-absolute", S, "int good = v[0] == '/' && !strstr(v, \"/../\")", "int good = 1 && !strstr(v, \"/../\")", [(SB, "nt3.sandbox")]),
    ("prompt", S, "if (!sandbox_of(L)->prompt) return refuse(L, \"nt3.prompt\", \"prompt\");", "", [(SB, "prompt")]),
    # --- base library ---
    ("debug-lib", S, "{LUA_UTF8LIBNAME, luaopen_utf8},", "{LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_DBLIBNAME, luaopen_debug},", [(SB, "base library")]),
    ("io-lib", S, "{LUA_UTF8LIBNAME, luaopen_utf8},", "{LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_IOLIBNAME, luaopen_io},", [(SB, "base library")]),
    ("package-lib", S, "{LUA_UTF8LIBNAME, luaopen_utf8},", "{LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_LOADLIBNAME, luaopen_package},", [(SB, "base library")]),
    ("string-dump", S, "  lua_pushnil(L);\n  lua_setfield(L, -2, \"dump\");", "", [(SB, "base library")]),
    ("load-mode", S, "  lua_pushliteral(L, \"t\");\n  lua_replace(L, 3);", "  lua_pushliteral(L, \"bt\");\n  lua_replace(L, 3);", [(SB, "base library")]),
    ("require-mode", S, "if (luaL_loadbufferx(L, text, len, chunkname, \"t\") != LUA_OK) lua_error(L);", "if (luaL_loadbufferx(L, text, len, chunkname, \"bt\") != LUA_OK) lua_error(L);", [(SB, "base library")]),
    ("dofile", S, "{\"dofile\", \"loadfile\", NULL}", "{NULL}", [(SB, "base library")]),
    ("os-subset", S, "{\"time\", \"clock\", \"date\", \"difftime\", NULL}", "{\"time\", \"clock\", \"date\", \"difftime\", \"execute\", \"getenv\", NULL}", [(SB, "base library")]),
    ("collectgarbage", S, "if (strcmp(opt, \"count\") != 0) return refuse", "if (0) return refuse", [(SB, "base library")]),
    ("gc-refusal", S, "if (t != LUA_TNIL) return refuse(L, \"a __gc metamethod\"", "if (0) return refuse(L, \"a __gc metamethod\"", [(SB, "finalizers")]),
    ("require-nt3-refusal", S, "if (!found && strncmp(name, \"nt3\", 3) == 0 && (name[3] == '\\0' || name[3] == '.'))", "if (0)", [(SB, "token")]),
    ("require-plain-relative", S, "if (!plain_relative(rel)) return luaL_error", "if (0) return luaL_error", [(SB, "require")]),
    ("require-trusted", S, "lua_getfield(L, -1, \"read_trusted\");", "lua_getfield(L, -1, \"read\");", [(SB, "require")]),
    ("require-name-chars", S, "        return luaL_error(L, \"module '%s' not found (not a module name)\", name);", "        ;", [(SB, "require")]),
    # --- the memory cap and Ctrl-C ---
    ("memory-cap", S, "if (nsize > old && (s->doomed || nsize - old > s->cap - s->used)) {", "if (0) {", [(SB, "memory")]),
    ("pcall-reraise", S, "    if (ending(s)) return raise_end(L, s);\n    lua_pushboolean(L, 0);", "    lua_pushboolean(L, 0);", [(SB, "memory"), (SB, "Ctrl")]),
    ("pcall-entry", S, "  luaL_checkany(L, 1);\n  struct sandbox *s = sandbox_of(L);\n  if (ending(s)) return raise_end(L, s);", "  luaL_checkany(L, 1);\n  struct sandbox *s = sandbox_of(L);", [(SB, "memory"), (SB, "Ctrl")]),
    ("xpcall-entry", S, "  luaL_checktype(L, 2, LUA_TFUNCTION);\n  struct sandbox *s = sandbox_of(L);\n  if (ending(s)) return raise_end(L, s);", "  luaL_checktype(L, 2, LUA_TFUNCTION);\n  struct sandbox *s = sandbox_of(L);", [(SB, "Ctrl")]),
    ("catcher-reraise", S, "    if (lua_status(co) == LUA_ERRMEM) s->doomed = 1;\n    if (ending(s)) return raise_end(L, s);", "    if (lua_status(co) == LUA_ERRMEM) s->doomed = 1;", [(SB, "memory"), (SB, "Ctrl")]),
    ("catcher-entry", S, "  luaL_argexpected(L, co, 1, \"coroutine\");\n  struct sandbox *s = sandbox_of(L);\n  if (ending(s)) return raise_end(L, s);", "  luaL_argexpected(L, co, 1, \"coroutine\");\n  struct sandbox *s = sandbox_of(L);", [(SB, "memory"), (SB, "Ctrl")]),
    ("coroutine-arm", S, "  if (co) arm(co);\n  else if", "  if (0) arm(co);\n  else if", [(SB, "Ctrl")]),
    ("hook-main", S, "  lua_State *L = s->L;\n  arm(L);", "  lua_State *L = s->L;", [(SB, "Ctrl")]),
    ("sigint-handler", S, "  interrupted = 1;\n}", "}", [(SB, "Ctrl")]),
    # --- output ---
    ("sanitise-stdout", S, "if (!(fd == 1 ? s->out_tty : s->err_tty)) {", "if (fd == 1) {", [(SB, "terminal")]),
    ("sanitise-stderr", S, "if (!(fd == 1 ? s->out_tty : s->err_tty)) {", "if (fd == 2) {", [(SB, "terminal")]),
    ("sanitise-csi", S, "if (j < n && p[j] == 'm') {", "if (j < n && p[j] >= '@' && p[j] <= '~') {", [(SB, "terminal")]),
    # --- the lock's sha256 ---
    ("lock-hash", S, "if (strcasecmp(hex, s->file_hashes.v[i - 1]) != 0) {", "if (0) {", [(SB, "nt3.sandbox"), ("extension", "lock")]),
    ("lock-listed", S, "if (s->have_files && !list_has(&s->file_names, rel)) {", "if (0) {", [(SB, "nt3.sandbox"), ("extension", "lock")]),
    ("lock-tampered-ends", S, "return s->doomed || s->tampered[0] || s->closing || interrupted;", "return s->doomed || s->closing || interrupted;", [(SB, "nt3.sandbox")]),
    ("lua-verify", "lua/nt3/cli/ext.lua", "  local ok, verr = store.verify(cmd.extension, entry)\n", "  local ok, verr = true, nil\n", [("extension", "lock")]),
    # --- fs (sandbox.c) ---
    ("fs-find-root", S, "      int under = within(abs, root);", "      int under = 1;", [(SB, "fs")]),
    ("fs-write-roots", S, "return fs_call(L, \"write\", WRITE_ROOTS, \"fs.write\");", "return fs_call(L, \"write\", READ_ROOTS, \"fs.write\");", [(SB, "fs")]),
    ("fs-cfg-dir", S, "if (have_cfg && (within(real, cfg) || within(cfg, real)))", "if (0)", [(SB, "fs")]),
    ("fs-cfg-holds", S, "if (have_cfg && (within(real, cfg) || within(cfg, real)))", "if (have_cfg && within(real, cfg))", [(SB, "fs")]),
    ("fs-root-dotdot", S, "if (good && strstr(v, \"..\")) good = 0;", "", [(SB, "nt3.sandbox")]),
    # --- beneath.c ---
    ("openat2-beneath", B, "        .resolve = RESOLVE_BENEATH_ | RESOLVE_NO_MAGICLINKS_,\n      };\n      long r", "        .resolve = RESOLVE_NO_MAGICLINKS_,\n      };\n      long r", [("beneath", "refuses")]),
    ("openat2-magic", B, "        .resolve = RESOLVE_BENEATH_ | RESOLVE_NO_MAGICLINKS_,\n      };\n      long r", "        .resolve = RESOLVE_BENEATH_,\n      };\n      long r", [("beneath", "magic")]),
    ("walk-dotdot", B, "    if (strcmp(name, \"..\") == 0) {\n      if (depth == 0) {", "    if (0) {\n      if (depth == 0) {", [("beneath", "refuses")]),
    ("walk-dotdot-root", B, "      if (depth == 0) {\n        r = -EXDEV;\n        break;\n      }", "      if (depth == 0) continue;", [("beneath", "refuses")]),
    ("walk-same-file", B, "      else if (!same_file(&st, stack[depth - 1])) r = -EAGAIN;", "", [("beneath", "never climbs")]),
    ("walk-nofollow", B, "int fd = openat(cur, name, DIR_FLAGS | O_NOFOLLOW);", "int fd = openat(cur, name, DIR_FLAGS);", [("beneath", "refuses")]),
    ("link-absolute", B, "  if (target[0] == '/') return -EXDEV;", "", [("beneath", "refuses")]),
    ("magic-link", B, "return sf.f_type == PROC_SUPER_MAGIC && (text[0] == '/' || strchr(text, ':') != NULL);", "return 0;", [("beneath", "magic")]),
    ("hard-link", B, "else if (S_ISREG(st.st_mode) && st.st_nlink > 1) r = -EMLINK;", "", [("beneath", "hard link"), (SB, "fs")]),
    ("last-nofollow", B, "int open_flags = (flags & ~O_TRUNC) | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC;", "int open_flags = (flags & ~O_TRUNC) | O_NOCTTY | O_CLOEXEC;", [("beneath", None)]),
    ("last-create-link", B, "    if (flags & (O_CREAT | O_NOFOLLOW)) return -ELOOP;", "", [("beneath", "creating")]),
    ("last-device", B, "    /* refused before opening it: opening a device can have effects */\n    return -EINVAL;", "    ;", [("beneath", "FIFO")]),
    ("checked-type", B, "else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) r = -EINVAL;", "", [("beneath", "FIFO")]),
    ("check-rel-abs", B, "  if (rel[0] == '/') return -EXDEV;", "", [("beneath", "absolute")]),
    ("trunc-after-check", B, "int open_flags = (flags & ~O_TRUNC) | O_NOFOLLOW", "int open_flags = flags | O_NOFOLLOW", [("beneath", "hard link")]),
    ("tmpfile", B, "if ((flags & O_TMPFILE) == O_TMPFILE) return -EINVAL;", "", [("beneath", None)]),
    ("atomic-not-regular", "src/atomic.c", "  return S_ISREG(st->st_mode) ? 0 : NT3_ATOMIC_NOT_REGULAR;", "  return 0;", [("beneath", "creating")]),
]

# variants that build under -Werror (the first spelling left a variable unused)
MUTATIONS += [
    ("ipv4-mapped", G, "if (memcmp(addr, mapped, 12) == 0) {", "if (0 && memcmp(addr, mapped, 12) == 0) {", [(SB, "http")]),
    ("gc-refusal", S, "if (t != LUA_TNIL) return refuse(L, \"a __gc metamethod\"", "if (0 && t != LUA_TNIL) return refuse(L, \"a __gc metamethod\"", [(SB, "finalizers")]),
    ("require-plain-relative", S, "if (!plain_relative(rel)) return luaL_error", "if (0 && !plain_relative(rel)) return luaL_error", [(SB, "require")]),
    ("require-name-chars", S, "        return luaL_error(L, \"module '%s' not found (not a module name)\", name);", "        {}", [(SB, "require")]),
    ("pcall-entry", S, "  luaL_checkany(L, 1);\n  struct sandbox *s = sandbox_of(L);\n  if (ending(s)) return raise_end(L, s);", "  luaL_checkany(L, 1);\n  struct sandbox *s = sandbox_of(L);\n  (void)s;", [(SB, "memory"), (SB, "Ctrl")]),
    ("xpcall-entry", S, "  luaL_checktype(L, 2, LUA_TFUNCTION);\n  struct sandbox *s = sandbox_of(L);\n  if (ending(s)) return raise_end(L, s);", "  luaL_checktype(L, 2, LUA_TFUNCTION);\n  struct sandbox *s = sandbox_of(L);\n  (void)s;", [(SB, "Ctrl")]),
    ("sanitise-stderr", S, "if (!(fd == 1 ? s->out_tty : s->err_tty)) {", "if (fd == 2 || !(fd == 1 ? s->out_tty : s->err_tty)) {", [(SB, "terminal")]),
]
MUTATIONS += [
    ("sanitise-stdout", S, "if (!(fd == 1 ? s->out_tty : s->err_tty)) {", "if (fd == 1 || !(fd == 1 ? s->out_tty : s->err_tty)) {", [(SB, "terminal")]),
    ("lock-hash", S, "if (strcasecmp(hex, s->file_hashes.v[i - 1]) != 0) {", "if (0 && strcasecmp(hex, s->file_hashes.v[i - 1]) != 0) {", [(SB, "nt3.sandbox"), ("extension", "lock")]),
]
MUTATIONS += [
    ("walk-same-file", B, "      else if (!same_file(&st, stack[depth - 1])) r = -EAGAIN;", "      else if (0 && !same_file(&st, stack[depth - 1])) r = -EAGAIN;", [("beneath", "never climbs")]),
    ("magic-link", B, "return sf.f_type == PROC_SUPER_MAGIC && (text[0] == '/'", "return 0 && sf.f_type == PROC_SUPER_MAGIC && (text[0] == '/'", [("beneath", "magic")]),
]
_last = {m[0]: i for i, m in enumerate(MUTATIONS)}
MUTATIONS = [m for i, m in enumerate(MUTATIONS) if _last[m[0]] == i]
