-- SHA-256 (src/sha256.c) through nt3.fs.sha256 and nt3.fs.sha256_text:
-- the test vectors of FIPS 180-4's examples (NIST's "Examples with
-- intermediate values"), every length around the padding boundary, and
-- files compared with coreutils' sha256sum.
local fs = require "nt3.fs"
local sh = require "helpers.sh"

local E = { NOENT = 2, INVAL = 22 }

local function sha256sum(path)
  local p = assert(io.popen("sha256sum " .. sh.quote(path)))
  local line = p:read("l")
  p:close()
  return (assert(line:match("^(%x+) ")))
end

local function sha256sum_text(data)
  local dir = sh.tmpdir()
  sh.spit(dir .. "/x", data)
  return sha256sum(dir .. "/x")
end

describe("nt3.fs.sha256_text", function()
  teardown(function() sh.cleanup() end)

  it("gives the FIPS 180-4 digests of the empty message, \"abc\" and the 448-bit message", function()
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", fs.sha256_text(""))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", fs.sha256_text("abc"))
    assert.are.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      fs.sha256_text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("gives the digest of a million 'a'", function()
    assert.are.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
      fs.sha256_text(("a"):rep(1000000)))
  end)

  it("hashes the 896-bit two-block message of the NIST examples", function()
    assert.are.equal("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
      fs.sha256_text("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"))
  end)

  it("agrees with sha256sum at every length from 0 to 130 bytes, across the padding and block edges", function()
    local wrong = {}
    for n = 0, 130 do
      local data = ("\0\255x"):rep(44):sub(1, n)
      if fs.sha256_text(data) ~= sha256sum_text(data) then wrong[#wrong + 1] = n end
    end
    assert.are.same({}, wrong)
  end)

  it("hashes bytes, not text: zero bytes count", function()
    assert.are_not.equal(fs.sha256_text("a\0b"), fs.sha256_text("a"))
    assert.are.equal(sha256sum_text("a\0b"), fs.sha256_text("a\0b"))
  end)

  it("raises for an argument that is not a string", function()
    assert.has_error(function() fs.sha256_text({}) end)
  end)
end)

describe("nt3.fs.sha256", function()
  teardown(function() sh.cleanup() end)

  it("hashes a multi-megabyte file as sha256sum does, streamed in pieces", function()
    local dir = sh.tmpdir()
    local path = dir .. "/big"
    -- 5 MiB and 3 bytes of random data: many reads, a last partial one
    assert(os.execute("head -c 5242883 /dev/urandom > " .. sh.quote(path)))
    assert.are.equal(sha256sum(path), fs.sha256(path))
  end)

  it("has no size cap, unlike fs.read", function()
    local dir = sh.tmpdir()
    local path = dir .. "/two-mib"
    sh.spit(path, ("z"):rep(2 * 1024 * 1024))
    assert.is_nil((fs.read(path)))
    assert.are.equal(sha256sum(path), fs.sha256(path))
  end)

  it("hashes an empty file", function()
    local dir = sh.tmpdir()
    sh.spit(dir .. "/empty", "")
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", fs.sha256(dir .. "/empty"))
  end)

  it("agrees with sha256_text on the same bytes", function()
    local dir = sh.tmpdir()
    local data = ("nt3\0\n"):rep(9999)
    sh.spit(dir .. "/f", data)
    assert.are.equal(fs.sha256_text(data), fs.sha256(dir .. "/f"))
  end)

  it("refuses a directory or a FIFO without opening it, as fs.read does", function()
    local dir = sh.tmpdir()
    local v, msg, code = fs.sha256(dir)
    assert.is_nil(v)
    assert.are.equal(dir .. ": not a regular file", msg)
    assert.are.equal(E.INVAL, code)
    -- a FIFO nobody writes to: opening it for reading would block forever
    assert(os.execute("mkfifo " .. sh.quote(dir .. "/fifo")))
    v, msg, code = fs.sha256(dir .. "/fifo")
    assert.is_nil(v)
    assert.are.equal(dir .. "/fifo: not a regular file", msg)
    assert.are.equal(E.INVAL, code)
  end)

  it("says nil, message, errno for a missing file", function()
    local v, msg, code = fs.sha256("/nonexistent/nt3-sha")
    assert.is_nil(v)
    assert.are.equal("/nonexistent/nt3-sha: No such file or directory", msg)
    assert.are.equal(E.NOENT, code)
  end)

  it("raises for a path with a zero byte", function()
    assert.has_error(function() fs.sha256("/etc/passwd\0x") end)
  end)
end)
