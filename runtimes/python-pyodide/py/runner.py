# polyrun's Pyodide runner, the Python side: one interpreter per worker, a fresh `__main__` per
# run (a session keeps its own), the outcome as the engine's Outcome (JSON). It runs after
# outcomes.py (shared with the RustPython backend: `_bundle`, `_describe`, the `polyrun`
# helpers), in the same private module.

import ast as _ast
import json as _json
import types as _types

from pyodide.code import CodeRunner as _CodeRunner

_CO_COROUTINE = 0x80
_sessions = {}


def _main(session):
    """The `__main__` module a run executes in: a fresh one, or its session's."""
    module = _sessions.get(session) if session is not None else None
    if module is None:
        module = _types.ModuleType("__main__")
        module.__builtins__ = builtins
        if session is not None:
            _sessions[session] = module
    sys.modules["__main__"] = module
    return module


def _end_session(name):
    _sessions.pop(name, None)


def _missing(code):
    """The top-level modules `code` imports that this interpreter cannot import (JSON)."""
    import importlib.util

    from pyodide.code import find_imports

    try:
        names = find_imports(code)
    except SyntaxError:
        return "[]"
    out = []
    for name in names:
        top = name.split(".")[0]
        if top in out or top in sys.modules or top in sys.builtin_module_names:
            continue
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = True
        if not found:
            out.append(top)
    return _json.dumps(out)


def _report(outcome):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        return _json.dumps(outcome)
    except BaseException as e:
        return _json.dumps(_error("PolyrunError", "unreportable outcome: %r" % (e,)))


def _completed(value):
    return {"status": "completed", "value": None} if value is None else _bundle(value)


def _run(code, filename, session):
    """Runs `code` as the file `filename`: the outcome as JSON, or for code with a top-level
    `await` a coroutine that returns it. The value of a final expression statement is the
    result, as on every Python backend; the code runs as written (not dedented)."""
    module = _main(session)
    try:
        runner = _CodeRunner(
            code,
            return_mode="last_expr",
            quiet_trailing_semicolon=False,
            filename=filename,
            flags=_ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dedent=False,
        ).compile()
        if runner.code is not None and runner.code.co_flags & _CO_COROUTINE:
            return _run_async(runner, module, filename)
        # Synchronously, so that nothing else runs in this interpreter meanwhile and an
        # interrupt lands in the guest's own frames.
        outcome = _completed(runner.run(module.__dict__))
    except BaseException as e:  # the guest's failure is an outcome
        outcome = _describe(e, filename)
        e.__traceback__ = None
    return _report(outcome)


async def _run_async(runner, module, filename):
    try:
        outcome = _completed(await runner.run_async(module.__dict__))
    except BaseException as e:
        outcome = _describe(e, filename)
        e.__traceback__ = None
    return _report(outcome)
