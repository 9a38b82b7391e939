local input = polyrun.input()
local list = {}
for word, n in pairs(input.counts) do
  list[#list + 1] = { word = word, count = n }
end
table.sort(list, function(a, b)
  if a.count ~= b.count then return a.count > b.count end
  return a.word < b.word
end)
local top = polyrun.array()
for i = 1, math.min(3, #list) do top[i] = list[i] end
print(("lua: the top word is %q"):format(top[1].word))
polyrun.output({ top = top, distinct = #list })
