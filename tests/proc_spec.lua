-- nt3.proc.run's cwd: the child changes directory after fork, before exec,
-- so nothing needs a shell for `cd`, and nt3's own directory never moves.
local sh = require "helpers.sh"

describe("nt3.proc.run cwd", function()
  teardown(sh.cleanup)

  -- runs a script with nt3 run in dir, and returns what it printed
  local function run(source, dir)
    local r = sh.run({ "run", sh.script(source) }, { cwd = dir })
    assert.are.equal(0, r.code, r.stderr)
    return r.stdout
  end

  it("runs the program in the directory given, and leaves nt3's own where it was", function()
    local here, there = sh.tmpdir(), sh.tmpdir()
    local out = run(([[
local proc, env = require "nt3.proc", require "nt3.env"
local r = assert(proc.run({ "/bin/pwd", "-P" }, { cwd = %q }))
io.write(r.code, " ", r.stdout, env.cwd(), "\n")
]]):format(there), here)
    assert.are.equal("0 " .. there .. "\n" .. here .. "\n", out)
  end)

  it("takes a relative directory from nt3's working directory", function()
    local here = sh.tmpdir()
    assert(os.execute("mkdir -p " .. sh.quote(here .. "/sub/deeper")))
    local out = run([[
local proc = require "nt3.proc"
io.write(assert(proc.run({ "/bin/pwd", "-P" }, { cwd = "sub/deeper" })).stdout)
io.write(assert(proc.run({ "/bin/pwd", "-P" }, { cwd = "." })).stdout)
]], here)
    assert.are.equal(here .. "/sub/deeper\n" .. here .. "\n", out)
  end)

  it("fails with the code cwd, not a run that exits 127, for a directory it cannot enter", function()
    local here = sh.tmpdir()
    sh.spit(here .. "/file", "not a directory")
    assert(os.execute("mkdir " .. sh.quote(here .. "/shut") .. " && chmod 0 " .. sh.quote(here .. "/shut")))
    -- root enters a mode-0 directory anyway: that case is checked only as a user
    local root = io.popen("id -u"):read("l") == "0"
    local out = run([[
local proc = require "nt3.proc"
local marker = "ran"
for _, dir in ipairs { "missing", "file", "shut" } do
  -- /bin/touch would leave a file behind had the program run anywhere
  local r, message, code = proc.run({ "/bin/touch", marker .. "-" .. dir }, { cwd = dir })
  print(dir, r, message, code)
end
]], here)
    local want = "missing\tnil\tmissing: No such file or directory\tcwd\n"
      .. "file\tnil\tfile: Not a directory\tcwd\n"
      .. (root and "shut\ttable" or "shut\tnil\tshut: Permission denied\tcwd\n")
    assert.are.equal(want, root and out:sub(1, #want) or out)
    assert.is_nil(sh.slurp(here .. "/ran-missing"))
    assert.is_nil(sh.slurp(here .. "/ran-file"))
    os.execute("chmod 700 " .. sh.quote(here .. "/shut"))
  end)

  it("refuses a cwd that is not a non-empty string without a zero byte", function()
    local out = run([[
local proc = require "nt3.proc"
for _, cwd in ipairs { 5, "", "a\0b" } do print((select(2, pcall(proc.run, { "/bin/true" }, { cwd = cwd })))) end
]], sh.tmpdir())
    assert.are.equal("bad argument #2 to 'nt3.proc.run' (field 'cwd' must be a string)\n"
      .. "bad argument #2 to 'nt3.proc.run' (field 'cwd' is empty or holds a zero byte)\n"
      .. "bad argument #2 to 'nt3.proc.run' (field 'cwd' is empty or holds a zero byte)\n", out)
  end)

  it("gives each of two children yielding in tasks at once its own directory", function()
    local here, a, b = sh.tmpdir(), sh.tmpdir(), sh.tmpdir()
    local out = run(([[
local proc, task, env = require "nt3.proc", require "nt3.task", require "nt3.env"
local argv = { "/bin/sh", "-c", "sleep 0.3; pwd -P" }
local ta = task.spawn(proc.run, argv, { cwd = %q })
local tb = task.spawn(proc.run, argv, { cwd = %q })
local tc = task.spawn(proc.run, argv, { cwd = "missing" })
local ra, rb = task.wait(ta), task.wait(tb)
print(ra.stdout .. rb.stdout .. select(3, task.wait(tc)) .. "\n" .. env.cwd())
]]):format(a, b), here)
    assert.are.equal(a .. "\n" .. b .. "\ncwd\n" .. here .. "\n", out)
  end)
end)
