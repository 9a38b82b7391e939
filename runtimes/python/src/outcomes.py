# polyrun's Python outcomes and helpers: shared by every Python backend (RustPython appends it to
# its prelude, prelude.py; Pyodide's runner loads it as a module). It needs the host functions
# `_host(request JSON) -> reply JSON` and `_display(MIME bundle JSON)` in its globals; it
# defines `_bundle(value)` and `_describe(exc, filename)` (the engine's Outcome as a dict) and
# installs the `polyrun` module and the builtin `display(*values)` (IPython's name: a rich
# display event per value).

import sys
import builtins

# ---- results and errors -----------------------------------------------------------------

_MIME = (
    ("_repr_html_", "text/html"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
)


def _bundle(value):
    """The outcome of a run whose final expression is `value`: the engine's Outcome, its value a
    MIME bundle (Jupyter's convention)."""
    out = {"text/plain": repr(value)}
    if not isinstance(value, type):
        for method, mime in _MIME:
            try:
                fn = getattr(value, method, None)
                if not callable(fn):
                    continue
                data = fn()
            except Exception:
                continue
            if data is None:
                continue
            if isinstance(data, (bytes, bytearray)):
                # Binary types travel as base64 text (Jupyter's convention).
                import binascii

                data = binascii.b2a_base64(data, newline=False).decode("ascii")
            elif mime == "application/json":
                import json

                try:
                    data = data if isinstance(data, str) else json.dumps(data)
                except Exception:
                    continue
            out[mime] = str(data)
    return {"status": "completed", "value": out}


def _show(*values):
    """Shows each value as a rich display event: its MIME bundle (text/plain, and text/html,
    image/png, ... when it has `_repr_html_`, `_repr_png_`, ...), counted as output."""
    import json

    for value in values:
        _display(json.dumps(_bundle(value)["value"]))


def _kind(exc):
    cls = type(exc)
    module = getattr(cls, "__module__", "builtins")
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", "__main__") else module + "." + name


def _describe(exc, filename):
    """The outcome of an uncaught exception: the engine's Outcome, with the frames of the user's
    own file, innermost first. SystemExit ends the run as CPython's interpreter would (its
    text, if any, on stderr)."""
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or code == 0:
            return {"status": "completed", "value": None}
        if isinstance(code, int):
            return _error("SystemExit", "exit status %d" % code)
        text = str(code)
        sys.stderr.write(text + "\n")
        return _error("SystemExit", text)
    kind = _kind(exc)
    line = col = None
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        message = exc.msg if exc.msg is not None else str(exc)
        line = exc.lineno
        col = exc.offset
    else:
        try:
            message = str(exc)
        except Exception:
            message = "<exception str() failed>"
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == filename:
            frames.append((code.co_name, tb.tb_lineno))
        tb = tb.tb_next
    frames.reverse()
    if line is None and frames:
        line = frames[0][1]
    out = []
    # Like CPython, a frame repeated more than 3 times in a row is shown 3 times and counted.
    i = 0
    while i < len(frames):
        j = i
        while j < len(frames) and frames[j] == frames[i]:
            j += 1
        for name, lineno in frames[i : min(j, i + 3)]:
            out.append({"function": name, "line": lineno})
        if j - i > 3:
            out.append({"function": "[previous frame repeated %d more times]" % (j - i - 3)})
        i = j
    return _error(kind, message.rstrip(), line, col, out)


def _error(kind, message, line=None, column=None, frames=()):
    return {
        "status": "error",
        "diagnostic": {
            "kind": kind,
            "message": message,
            "line": line,
            "column": column,
            "frames": list(frames),
        },
    }


# ---- the polyrun helpers ----------------------------------------------------------------
# One host function, `_host(request JSON) -> reply JSON`; the value rules are in docs/helpers.md.


def _helpers():
    json = None

    def refuse(value):
        kind = "a function" if callable(value) else "a " + type(value).__name__
        raise TypeError("cannot convert %s to JSON" % kind)

    def call(helper, request):
        nonlocal json
        if json is None:
            import json
        try:
            text = json.dumps(request, allow_nan=False, default=refuse)
        except (TypeError, ValueError) as e:
            why = str(e)
            if "Out of range float" in why:
                why = "cannot convert %r to JSON (not a finite number)" % _find_float(request)
            elif "Circular reference" in why:
                why = "cannot convert a cyclic value to JSON"
            elif "keys must be" in why:
                why = "cannot convert a dict with such keys to JSON (keys must be strings)"
            raise TypeError("polyrun.%s: %s" % (helper, why)) from None
        reply = json.loads(_host(text))
        if "error" in reply:
            raise RuntimeError("polyrun.%s: %s" % (helper, reply["error"]))
        return reply.get("ok")

    def name(helper, n):
        if not isinstance(n, str):
            raise TypeError("polyrun.%s: the variable name must be a string" % helper)
        return n

    def input():
        """The step's input data."""
        return call("input", {"op": "input"})

    def event():
        """The run's context: run_id, pipeline, step, trigger, started_at, metadata."""
        return call("event", {"op": "event"})

    def output(value):
        """Publishes the step's output (the last call wins)."""
        call("output", {"op": "output", "value": value})

    def get_variable(n):
        """A variable's value, None when unset."""
        return call("getVariable", {"op": "get_variable", "name": name("getVariable", n)})

    def set_variable(n, value):
        """Sets a variable."""
        call("setVariable", {"op": "set_variable", "name": name("setVariable", n), "value": value})

    def update_variable(n, f):
        """Atomically replaces a variable with f(current); f may run more than once."""
        name("updateVariable", n)
        while True:
            r = call("updateVariable", {"op": "read_variable", "name": n})
            new = f(r["value"])
            request = {"op": "swap_variable", "name": n, "version": r["version"], "value": new}
            if call("updateVariable", request):
                return new

    m = type(sys)("polyrun", "polyrun's helpers: input, output, variables, event, display.")
    for f in (input, event, output, get_variable, set_variable, update_variable):
        setattr(m, f.__name__, f)
    m.display = builtins.display
    m.getVariable, m.setVariable, m.updateVariable = get_variable, set_variable, update_variable
    return m


def _find_float(value):
    if isinstance(value, float):
        return value if value != value or value in (float("inf"), float("-inf")) else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for v in items:
        found = _find_float(v)
        if found is not None:
            return found
    return None


_show.__name__ = _show.__qualname__ = "display"
builtins.display = _show
sys.modules["polyrun"] = builtins.polyrun = _helpers()
