# The helper check: the same steps in every language (see docs/helpers.md).
input_ = polyrun.input()
polyrun.set_variable("greeting", "hello " + input_["name"])
greeting = polyrun.get_variable("greeting")
runs = polyrun.update_variable("runs", lambda n: (n or 0) + 1)
ev = polyrun.event()
try:
    polyrun.output(print)
    refused = False
except TypeError:
    refused = True
polyrun.output({
    "greeting": greeting,
    "total": sum(input_["numbers"]),
    "doubled": [x * 2 for x in input_["numbers"]],
    "runs": runs,
    "flags": input_["flags"],
    "step": ev["step"],
    "trigger": ev["trigger"],
    "has_run_id": isinstance(ev["run_id"], str) and len(ev["run_id"]) > 0,
    "missing_is_null": polyrun.get_variable("never-set") is None,
    "refused": refused,
})
print("checked " + greeting)
