-- Lua has no JSON in its standard library: a small encoder and decoder, part of the workload.
local function encode(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local first = true
      for _, k in ipairs(v.__keys) do
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = string.format("%q", k)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif t == "number" then
    out[#out + 1] = math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  else
    out[#out + 1] = tostring(v)
  end
end

local function decode(s)
  local pos = 1
  local value
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local function str()
    local e = s:find('"', pos + 1, true)
    local r = s:sub(pos + 1, e - 1):gsub("\\u(%x%x%x%x)", function(h) return utf8.char(tonumber(h, 16)) end)
    pos = e + 1
    return r
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local o = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1 return o end
      while true do
        ws()
        local k = str()
        ws()
        pos = pos + 1 -- ':'
        o[k] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return o end
      end
    elseif c == "[" then
      local a = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1 return a end
      while true do
        a[#a + 1] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return a end
      end
    elseif c == '"' then
      return str()
    elseif s:sub(pos, pos + 3) == "true" then
      pos = pos + 4 return true
    elseif s:sub(pos, pos + 4) == "false" then
      pos = pos + 5 return false
    elseif s:sub(pos, pos + 3) == "null" then
      pos = pos + 4 return nil
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      pos = pos + #num
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  return value()
end

local items = {}
for i = 0, N - 1 do
  items[#items + 1] = { __keys = { "id", "name", "tags", "score", "ok" },
    id = i, name = "item" .. i, tags = { "a", "b", tostring(i % 7) }, score = i * 0.5, ok = i % 2 == 0 }
end
local out = {}
encode(items, out)
local back = decode(table.concat(out))
local ids, score, oks, tags = 0, 0.0, 0, 0
for _, it in ipairs(back) do
  ids = ids + it.id
  score = score + it.score
  if it.ok then oks = oks + 1 end
  tags = tags + #it.tags
end
print("roundtrip " .. N .. ": " .. #back .. " " .. ids .. " " .. string.format("%.1f", score) .. " " .. oks .. " " .. tags)
