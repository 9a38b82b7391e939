-- The helper check: the same steps in every language (see docs/helpers.md).
local input = polyrun.input()
polyrun.setVariable("greeting", "hello " .. input.name)
local greeting = polyrun.getVariable("greeting")
local runs = polyrun.updateVariable("runs", function(n) return (n or 0) + 1 end)
local ev = polyrun.event()
local total, doubled = 0, {}
for i, x in ipairs(input.numbers) do
  total = total + x
  doubled[i] = x * 2
end
local refused = not pcall(polyrun.output, print)
polyrun.output({
  greeting = greeting,
  total = total,
  doubled = doubled,
  runs = runs,
  flags = input.flags,
  step = ev.step,
  trigger = ev.trigger,
  has_run_id = type(ev.run_id) == "string" and #ev.run_id > 0,
  missing_is_null = polyrun.getVariable("never-set") == nil,
  refused = refused,
})
print("checked " .. greeting)
