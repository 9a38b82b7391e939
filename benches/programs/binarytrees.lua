local function make(d)
  if d == 0 then return {} end
  return { make(d - 1), make(d - 1) }
end
local function check(t)
  if t[1] == nil then return 1 end
  return 1 + check(t[1]) + check(t[2])
end
local minDepth = 4
local maxDepth = math.max(minDepth + 2, N)
print("stretch tree of depth " .. (maxDepth + 1) .. "\t check: " .. check(make(maxDepth + 1)))
local longLived = make(maxDepth)
for d = minDepth, maxDepth, 2 do
  local iterations = 1 << (maxDepth - d + minDepth)
  local sum = 0
  for _ = 1, iterations do sum = sum + check(make(d)) end
  print(iterations .. "\t trees of depth " .. d .. "\t check: " .. sum)
end
print("long lived tree of depth " .. maxDepth .. "\t check: " .. check(longLived))
