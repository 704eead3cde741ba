-- nt3 extension (alias ext): install, list, verify, upgrade, remove,
-- create and share extensions, each locked in ~/.nt3/extensions.lock
-- (docs/extensions.md; docs/architecture.md, "Extensions").
local error, io, ipairs, os, pairs, pcall, require = error, io, ipairs, os, pairs, pcall, require
local table, tostring, type = table, tostring, type
local cli = require "nt3.cli"

local SUBCOMMANDS = {
  { "install <source>[@<ref>]", "install from a git URL (https, ssh, file://), a folder or a .tar.gz" },
  { "list [--json]", "the installed extensions, and whether their files verify" },
  { "verify [<name>]", "check the installed files against the lock; says which file differs" },
  { "outdated", "what each git source offers now (no change is made)" },
  { "upgrade [<name>|--all] [--pin <ref>]", "install what the source offers now, or the ref pinned" },
  { "remove <name>", "remove an extension and its lock entry" },
  { "create <name>", "write a skeleton extension (manifest, one command, a spec) in ./<name>" },
  { "sync [--file <lock>]", "install exactly what a project's lock file says (default ./nt3-extensions.lock)" },
  { "lock --file <path>", "write a project lock file from what is installed" },
}

local PROJECT_LOCK = "nt3-extensions.lock"

local function description()
  local lines = { "Subcommands:" }
  for _, s in ipairs(SUBCOMMANDS) do lines[#lines + 1] = ("  %-38s %s"):format(s[1], s[2]) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Installing shows the permissions the extension asks for and asks before going on"
  lines[#lines + 1] = "(--yes for scripts). See 'man nt3' and extensions.md among nt3's documents (share/doc/nt3)."
  return table.concat(lines, "\n")
end

local function lazy(name) return function() return require(name) end end
local the_store, the_source, the_manifest = lazy "nt3.ext.store", lazy "nt3.ext.source", lazy "nt3.ext.manifest"

local function say(line) io.stderr:write(require("nt3.policy").sanitize(line), "\n") end

-- a line of stdout that quotes a source, a path or a grant: printable text
local function show(line) cli.print(require("nt3.policy").sanitize(line)) end

local function short(commit) return commit and commit:sub(1, 12) or "-" end

---------------------------------------------------------------------------
-- asking
---------------------------------------------------------------------------

-- Shows what is asked for and asks once; --yes answers for scripts. No
-- terminal and no --yes: refused, one line.
local function agree(opts, heading, lines, question)
  say(heading)
  for _, l in ipairs(lines) do say("  - " .. l) end
  if opts.yes then return true end
  local yes, err, code = require("nt3.prompt").confirm(question)
  if yes == nil then
    if code == "no_terminal" then cli.fail("no terminal to ask on: run it again with --yes to agree") end
    if code == "interrupted" then cli.fail("interrupted", cli.EXIT.interrupted) end
    cli.fail(err)
  end
  if not yes then cli.fail("nothing was installed: you said no") end
  return true
end

---------------------------------------------------------------------------
-- installing one
---------------------------------------------------------------------------

-- The clash a command of extension ename would make, as one line | nil
local function clash(lock, ename, names)
  local registry = require "nt3.cli.registry"
  local fs = require "nt3.fs"
  for _, name in ipairs(names) do
    if name == "extension" or name == "ext" then
      return ("extension %s: its command %s would shadow the built-in command extension"):format(ename, name)
    end
    local b = registry.builtin_named(name)
    if b then
      return ("extension %s: its command %s would shadow the built-in command %s"):format(ename, name, b.name)
    end
    for _, dir in ipairs(registry.user_command_dirs()) do
      local path = dir .. "/" .. name .. ".lua"
      if fs.lstat(path) then
        return ("extension %s: its command %s would shadow the user command %s"):format(ename, name,
          the_store().display(path))
      end
    end
    for other, e in pairs(lock.extensions) do
      if other ~= ename then
        for _, c in ipairs(e.commands) do
          if c.name == name then
            return ("extension %s: its command %s clashes with the command %s of extension %s"):format(ename, name,
              name, other)
          end
        end
      end
    end
  end
end

local function command_names(m)
  local names = {}
  for _, c in ipairs(m.commands) do names[#names + 1] = c.name end
  return names
end

-- The staging folders this run made: removed when it fails (a kill -9
-- leaves them to the next run's recovery, nt3.ext.store).
local staged = {}

-- Fetches src into a new staging folder and reads its manifest.
-- -> { staging, files, manifest, commit, tarball_sha256, src }
local function fetch(src)
  local store, source, manifest = the_store(), the_source(), the_manifest()
  local staging, serr = store.stage({})
  if not staging then cli.fail(serr) end
  staged[#staged + 1] = staging
  local got, err, code = source.fetch(src, staging)
  local function bail(msg, c)
    store.remove_tree(staging)
    cli.fail(msg, c == "interrupted" and cli.EXIT.interrupted or nil)
  end
  if not got then bail(err, code) end
  local text = got.files[manifest.FILE]
  if not text then bail(("%s has no %s at its root"):format(src.source, manifest.FILE)) end
  local set = {}
  for rel in pairs(got.files) do set[rel] = true end
  local m, merr = manifest.parse(text, set)
  if not m then bail(merr) end
  store.remove_tree(staging .. "/repo")
  got.staging, got.manifest, got.src, got.bail = staging, m, src, bail
  return got
end

local function entry_of(got, hashes)
  local store = the_store()
  local m = got.manifest
  local cmds = {}
  for i, c in ipairs(m.commands) do cmds[i] = { name = c.name, summary = c.summary, file = c.file } end
  return {
    source = got.src.source, kind = got.src.kind, ref = got.src.ref, commit = got.commit,
    tarball_sha256 = got.tarball_sha256, version = m.version, description = m.description,
    commands = cmds, files = hashes, tree = store.tree_hash(hashes), permissions = m.permissions,
    installed = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  }
end

-- Writes the staged files and switches them in under the lock. check(lock)
-- may refuse (a clash that appeared meanwhile): it returns a message.
local function commit(got, entry, check)
  local store = the_store()
  local ok, err = store.stage_files(got.staging, got.files)
  if not ok then got.bail(err) end
  store.pause_at("staged")
  local done, cerr = store.locked(function(lock, ctx)
    local why = check and check(lock)
    if why then return nil, why end
    lock.extensions[got.manifest.name] = entry
    return store.switch(ctx, lock, got.manifest.name, got.staging)
  end)
  if not done then got.bail(cerr) end
end

local function about(got)
  local m = got.manifest
  local at = got.commit and (" at " .. short(got.commit)) or ""
  return ("Extension %s %s from %s%s asks to:"):format(m.name, m.version, got.src.source, at)
end

local function install(opts, text)
  local store, source = the_store(), the_source()
  local src, perr = source.parse(text, opts.pin)
  if not src then cli.fail(perr) end
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  local got = fetch(src)
  local m = got.manifest
  local old = lock.extensions[m.name]
  if old and old.source ~= src.source then
    got.bail(("extension %s is already installed from %s; remove it first"):format(m.name, old.source))
  end
  local why = clash(lock, m.name, command_names(m))
  if why then got.bail(why) end
  local hashes = store.hashes(got.files)
  agree(opts, about(got), the_manifest().describe(m.permissions), "Install it?")
  commit(got, entry_of(got, hashes), function(l) return clash(l, m.name, command_names(m)) end)
  cli.print(("installed %s %s (%d command%s: %s)"):format(m.name, m.version, #m.commands,
    #m.commands == 1 and "" or "s", table.concat(command_names(m), ", ")))
  return 0
end

---------------------------------------------------------------------------
-- upgrade, outdated
---------------------------------------------------------------------------

local function upgrade_one(opts, name, entry)
  local store, manifest = the_store(), the_manifest()
  if entry.kind ~= "git" and opts.pin then
    cli.fail(("extension %s is not from git: it has no refs to pin"):format(name))
  end
  local got = fetch({ kind = entry.kind, source = entry.source, ref = opts.pin or entry.ref })
  local m = got.manifest
  if m.name ~= name then
    got.bail(("the source of %s now names itself %s; remove and install it"):format(name, m.name))
  end
  local hashes = store.hashes(got.files)
  local new = entry_of(got, hashes)
  if new.tree == entry.tree and new.commit == entry.commit and new.ref == entry.ref then
    store.remove_tree(got.staging)
    cli.print(("%s is up to date (%s)"):format(name, short(entry.commit) ~= "-" and short(entry.commit) or m.version))
    return
  end
  local why = clash(store.read_lock() or { extensions = {} }, name, command_names(m))
  if why then got.bail(why) end
  local more = manifest.wider(m.permissions, entry.permissions)
  if #more > 0 then
    agree(opts, ("Extension %s %s now also asks to:"):format(name, m.version), more, "Upgrade it?")
  end
  commit(got, new, function(l) return clash(l, name, command_names(m)) end)
  cli.print(("upgraded %s %s -> %s (%s)"):format(name, entry.version, m.version, short(new.commit)))
end

local function upgrade(opts, name)
  local store = the_store()
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  if name and opts.all then cli.usage_error("give a name or --all, not both", nil) end
  if not name and not opts.all then cli.fail("name the extension to upgrade, or give --all") end
  if opts.all and opts.pin then cli.fail("--pin names the ref of one extension: give its name, not --all") end
  local names = {}
  if name then
    if not lock.extensions[name] then cli.fail(("extension %s is not installed"):format(name)) end
    names[1] = name
  else
    for n in pairs(lock.extensions) do names[#names + 1] = n end
    table.sort(names)
  end
  for _, n in ipairs(names) do upgrade_one(opts, n, lock.extensions[n]) end
  return 0
end

local function outdated()
  local store, source = the_store(), the_source()
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  local names = {}
  for n in pairs(lock.extensions) do names[#names + 1] = n end
  table.sort(names)
  local failed = false
  for _, n in ipairs(names) do
    local e = lock.extensions[n]
    if e.kind == "git" then
      local now, err = source.remote_commit(e.source, e.ref)
      if not now then
        failed = true
        say(("nt3: %s: %s"):format(n, err))
      elseif now ~= e.commit then
        cli.print(("%s  %s  installed %s, %s now %s"):format(n, e.version, short(e.commit), e.ref or "HEAD",
          short(now)))
      else
        cli.print(("%s  %s  up to date (%s)"):format(n, e.version, short(e.commit)))
      end
    else
      cli.print(("%s  %s  from a %s: upgrade re-reads it"):format(n, e.version, e.kind))
    end
  end
  return failed and 1 or 0
end

---------------------------------------------------------------------------
-- list, verify, remove
---------------------------------------------------------------------------

local function list(opts)
  local store = the_store()
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  local names = {}
  for n in pairs(lock.extensions) do names[#names + 1] = n end
  table.sort(names)
  if opts.json then
    local json = require "nt3.json"
    local out = json.array()
    for _, n in ipairs(names) do
      local e = lock.extensions[n]
      out[#out + 1] = { name = n, version = e.version, source = e.source, ref = e.ref, commit = e.commit,
        tarball_sha256 = e.tarball_sha256, permissions = e.permissions, verified = store.verify(n, e) == true,
        commands = json.array(command_names(e)) }
    end
    cli.print((json.pretty(out)))
    return 0
  end
  if #names == 0 then
    cli.print("no extensions installed (nt3 ext install <source>)")
    return 0
  end
  for _, n in ipairs(names) do
    local e = lock.extensions[n]
    local ok = store.verify(n, e)
    show(("%s %s  %s  %s  %s"):format(n, e.version, short(e.commit), e.source, ok and "verified" or "MODIFIED"))
    show("  commands: " .. table.concat(command_names(e), ", "))
    for _, l in ipairs(the_manifest().describe(e.permissions)) do show("  may " .. l) end
  end
  return 0
end

local function verify(name)
  local store = the_store()
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  if name and not lock.extensions[name] then cli.fail(("extension %s is not installed"):format(name)) end
  local bad = 0
  local names = {}
  for n in pairs(lock.extensions) do if not name or n == name then names[#names + 1] = n end end
  table.sort(names)
  for _, n in ipairs(names) do
    local ok, err, _, d = store.verify(n, lock.extensions[n])
    if ok then
      cli.print(n .. ": ok")
    else
      bad = bad + 1
      if d then
        for _, rel in ipairs(d.changed) do say(("nt3: %s: %s was changed"):format(n, rel)) end
        for _, rel in ipairs(d.added) do say(("nt3: %s: %s was added"):format(n, rel)) end
        for _, rel in ipairs(d.missing) do say(("nt3: %s: %s is missing"):format(n, rel)) end
      else
        say("nt3: " .. err)
      end
    end
  end
  return bad == 0 and 0 or 1
end

local function remove(name)
  local store = the_store()
  local done, err = store.locked(function(lock, ctx)
    if not lock.extensions[name] then return nil, ("extension %s is not installed"):format(name) end
    lock.extensions[name] = nil
    return store.switch(ctx, lock, name, nil)
  end)
  if not done then cli.fail(err) end
  cli.print("removed " .. name)
  return 0
end

---------------------------------------------------------------------------
-- the team lock: lock, sync
---------------------------------------------------------------------------

local function write_project_lock(opts)
  local store = the_store()
  if not opts.file then cli.fail("give the file to write: nt3 ext lock --file " .. PROJECT_LOCK) end
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  local out = { version = 1, extensions = {} }
  for n, e in pairs(lock.extensions) do
    if e.kind ~= "git" then
      say(("nt3: warning: %s is from a %s, which others cannot install from: left out"):format(n, e.kind))
    else
      out.extensions[n] = { source = e.source, kind = e.kind, ref = e.ref, commit = e.commit, version = e.version,
        commands = e.commands, files = e.files, tree = e.tree, permissions = e.permissions }
    end
  end
  local ok, err = require("nt3.fs").write(opts.file, store.format_lock(out), 420)
  if not ok then cli.fail(err) end
  cli.print("wrote " .. opts.file)
  return 0
end

local function same_files(a, b)
  local d = the_store().compare(a, b)
  return not (d.changed[1] or d.added[1] or d.missing[1]), d
end

local function sync(opts)
  local store, manifest = the_store(), the_manifest()
  local path = opts.file or PROJECT_LOCK
  local text, rerr = require("nt3.fs").read(path, store.LOCK_MAX)
  if not text then cli.fail(rerr) end
  local want, perr = store.parse_lock(text, path)
  if not want then cli.fail(perr) end
  local names = {}
  for n, e in pairs(want.extensions) do
    if e.kind ~= "git" or type(e.commit) ~= "string" or not e.commit:match("^%x+$") then
      cli.fail(("%s: %s must name a git source and a commit"):format(path, n))
    end
    -- a shared file's source meets the rules of one typed at install
    -- (https, ssh or file://; never plain http or git://)
    local src, serr = the_source().parse(type(e.source) == "string" and e.source or "")
    if not src or src.kind ~= "git" then
      cli.fail(("%s: %s: %s"):format(path, n, serr or "its source is not a git URL (https, ssh or file://)"))
    end
    names[#names + 1] = n
  end
  table.sort(names)
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  -- fetch everything first: any difference stops it before anything is installed
  local todo, asked = {}, {}
  for _, n in ipairs(names) do
    local e = want.extensions[n]
    local have = lock.extensions[n]
    if not (have and have.commit == e.commit and have.tree == e.tree and store.verify(n, have)) then
      local got = fetch({ kind = "git", source = e.source, ref = e.commit })
      local function refuse(why)
        for _, t in ipairs(todo) do store.remove_tree(t.got.staging) end
        got.bail(path .. ": " .. n .. ": " .. why)
      end
      if got.commit ~= e.commit then refuse("the source resolves to another commit") end
      if got.manifest.name ~= n then refuse("the source names itself " .. got.manifest.name) end
      local hashes = store.hashes(got.files)
      local ok, d = same_files(e.files, hashes)
      if not ok then
        local rel = d.changed[1] or d.added[1] or d.missing[1]
        refuse(("%s differs from the lock (refusing: nothing was installed)"):format(rel))
      end
      if store.tree_hash(hashes) ~= e.tree then refuse("the tree hash differs from the lock") end
      local atoms = manifest.wider(got.manifest.permissions, e.permissions)
      if #atoms > 0 or #manifest.wider(e.permissions, got.manifest.permissions) > 0 then
        refuse("the permissions differ from the lock")
      end
      local why = clash(lock, n, command_names(got.manifest))
      if why then refuse(why) end
      todo[#todo + 1] = { name = n, got = got, entry = entry_of(got, hashes) }
      asked[#asked + 1] = ("%s %s from %s (%s): %s"):format(n, got.manifest.version, e.source,
        short(got.commit), table.concat(manifest.describe(e.permissions), "; "))
    end
  end
  if #todo == 0 then
    cli.print(("everything in %s is installed"):format(path))
    return 0
  end
  agree(opts, ("%s asks to install:"):format(path), asked, "Install them?")
  for _, t in ipairs(todo) do
    t.entry.ref = want.extensions[t.name].ref
    commit(t.got, t.entry, function(l) return clash(l, t.name, command_names(t.got.manifest)) end)
    cli.print(("installed %s %s (%s)"):format(t.name, t.entry.version, short(t.entry.commit)))
  end
  return 0
end

---------------------------------------------------------------------------
-- create
---------------------------------------------------------------------------

local function create(name)
  local manifest = the_manifest()
  local fs = require "nt3.fs"
  if not name:match(manifest.NAME) then cli.fail(("%q is not a name (letters, digits, - and _)"):format(name)) end
  if fs.lstat(name) then cli.fail(("./%s already exists"):format(name)) end
  local files = require("nt3.ext.skeleton").files(name)
  local ok, err = fs.mkdir(name, 493)
  if not ok then cli.fail(err) end
  for _, d in ipairs({ "commands", "spec" }) do fs.mkdir(name .. "/" .. d, 493) end
  for rel, data in pairs(files) do
    ok, err = fs.write(name .. "/" .. rel, data, 420)
    if not ok then cli.fail(err) end
  end
  cli.print(("created ./%s: install it with nt3 ext install ./%s, test it with"
    .. " nt3 test in ./%s"):format(name, name, name))
  return 0
end

---------------------------------------------------------------------------

local RUN = {
  install = function(opts, args)
    if not args[1] then cli.fail("give the source: nt3 ext install <git URL|folder|file.tar.gz>[@<ref>]") end
    return install(opts, args[1])
  end,
  list = function(opts) return list(opts) end,
  verify = function(_, args) return verify(args[1]) end,
  outdated = function() return outdated() end,
  upgrade = function(opts, args) return upgrade(opts, args[1]) end,
  remove = function(_, args)
    if not args[1] then cli.fail("give the extension to remove") end
    return remove(args[1])
  end,
  create = function(_, args)
    if not args[1] then cli.fail("give the name of the extension to create") end
    return create(args[1])
  end,
  sync = function(opts) return sync(opts) end,
  lock = function(opts) return write_project_lock(opts) end,
}

return {
  name = "extension",
  aliases = { "ext" },
  summary = "Install, verify, upgrade and share extensions (commands run in the sandbox)",
  description = description(),
  args = { "subcommand?", "args..." },
  uses_token = false,
  flags = {
    { long = "yes", short = "y", help = "Agree to the permissions shown, without asking (for scripts)" },
    { long = "pin", value = "ref", help = "install or upgrade: the branch, tag or commit to install" },
    { long = "all", help = "upgrade: every installed extension" },
    { long = "json", help = "list: as JSON" },
    { long = "file", value = "path", help = "sync: the lock to install from; lock: the file to write" },
  },
  examples = {
    "nt3 ext install https://git.example.com/team/report.git@v1.2.0",
    "nt3 ext list",
    "nt3 ext upgrade report --pin v1.1.0",
    "nt3 ext lock --file nt3-extensions.lock && nt3 ext sync",
  },
  run = function(opts, ctx)
    local sub = ctx.args[1]
    if not sub then
      cli.out(cli.usage(ctx.command))
      return 0
    end
    local fn = RUN[sub]
    if not fn then
      cli.usage_error(('unknown subcommand "%s" (install, list, verify, outdated, upgrade, remove, create, sync, lock)')
        :format(tostring(sub)), ctx.command)
    end
    local store = the_store()
    if store.pending() then
      -- a change a killed run left: finished or undone before anything else
      local ok, err = store.locked(function() return true end)
      if not ok then cli.fail(err) end
    end
    local ok, result = pcall(fn, opts, table.move(ctx.args, 2, #ctx.args, 1, {}))
    for _, dir in ipairs(staged) do store.remove_tree(dir) end
    if not ok then error(result, 0) end
    return result
  end,
}
