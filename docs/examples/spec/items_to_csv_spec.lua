-- The spec of items-to-csv.lua, a script run with `nt3 run`: the fake API
-- pages /api/v1/items the way the script reads them (`items`, then
-- `next_page`, null on the last page).
local testing = require "nt3.testing"

local examples = debug.getinfo(1, "S").source:match("^@(.-)/?spec/[^/]*$") or ""
if examples:sub(1, 1) ~= "/" then
  examples = require("nt3.env").cwd() .. (examples == "" and "" or "/" .. examples)
end

local ITEMS = {}
for i = 1, 5 do ITEMS[i] = { id = "item_" .. i, name = i == 3 and 'Item "3", the third' or "Item " .. i } end

describe("items-to-csv.lua", function()
  it("pages through /api/v1/items and writes every item as CSV", function()
    local api <close> = assert(testing.server())
    api:route("GET", "/api/v1/items", function(req)
      local page, per = tonumber(req.query.page), tonumber(req.query.per_page)
      local items = {}
      for i = (page - 1) * per + 1, math.min(page * per, #ITEMS) do items[#items + 1] = ITEMS[i] end
      return { json = { items = items, next_page = page * per < #ITEMS and page + 1 or require("nt3.json").null } }
    end)
    local r = testing.run("run", { examples .. "/items-to-csv.lua", "--per-page", "2" }, { server = api })
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.code)
    assert.are.equal('id,name\r\nitem_1,Item 1\r\nitem_2,Item 2\r\nitem_3,"Item ""3"", the third"\r\n'
      .. "item_4,Item 4\r\nitem_5,Item 5\r\n", r.stdout)
    assert.are.equal(3, #api.requests)
    assert.are.equal("3", api:last().query.page)
  end)
end)
