# The helper check: the same steps in every language (see docs/helpers.md).
input = polyrun.input
polyrun.set_variable("greeting", "hello #{input["name"]}")
greeting = polyrun.get_variable("greeting")
runs = polyrun.update_variable("runs") { |n| (n || 0) + 1 }
ev = polyrun.event
refused = begin
  polyrun.output(method(:puts))
  false
rescue TypeError
  true
end
polyrun.output({
  greeting: greeting,
  total: input["numbers"].sum,
  doubled: input["numbers"].map { |x| x * 2 },
  runs: runs,
  flags: input["flags"],
  step: ev["step"],
  trigger: ev["trigger"],
  has_run_id: ev["run_id"].is_a?(String) && !ev["run_id"].empty?,
  missing_is_null: polyrun.get_variable("never-set").nil?,
  refused: refused,
})
puts "checked #{greeting}"
