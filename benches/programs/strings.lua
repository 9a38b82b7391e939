local parts = {}
for i = 0, N - 1 do parts[#parts + 1] = "item" .. i .. ";" end
local s = table.concat(parts)
local _, sevens = s:gsub("7;", "")
print("strings " .. N .. ": " .. #s .. " " .. sevens .. " " .. (s:upper():find("ITEM" .. (N - 1), 1, true) - 1))
