-- polyrun sample: Lua 5.4.
local name = "polyrun"
print("Hello from " .. name .. "!")
for i, lang in ipairs({ "JavaScript", "Lua" }) do
  io.write(i, ". ", lang, "\n")
end
