local d, size = {}, 0
for i = 0, N - 1 do d["k" .. i] = i; size = size + 1 end
local hits, sum = 0, 0
for i = 0, 2 * N - 1 do
  local v = d["k" .. i]
  if v ~= nil then hits = hits + 1; sum = sum + v end
end
for i = 0, N - 1, 3 do d["k" .. i] = nil; size = size - 1 end
local count = 0
for _ in pairs(d) do count = count + 1 end
print("dict " .. N .. ": " .. hits .. " " .. sum .. " " .. count)
