# polyrun's Python prelude. It runs once in every new interpreter, before any guest code, in the
# private module `_polyrun` whose globals already hold the host functions `_write(fd, text)`,
# `_readline()`, `_sleep(seconds)`, `_urandom(n)` and `_host(request)`.
#
# It builds the sandbox: there is no native `posix`/`nt`, `_socket`, `_ctypes`, `_signal` or
# `FileIO` in this interpreter (RustPython is built without its host-environment feature), so
# this module supplies a harmless `os` (paths, constants, an empty environment) under the names
# `os` and `posix`, and an `open` that refuses. Guest output and input go through polyrun.
# outcomes.py (results, errors and the `polyrun` helpers, shared with Pyodide) follows it.

import sys
import _io
import builtins

_DENIED = "polyrun's sandbox has no access to the host (files, processes, network, environment)"


def _denied(*args, **kwargs):
    raise PermissionError(13, _DENIED)


def _open(file, mode="r", *args, **kwargs):
    raise PermissionError(13, _DENIED, file)


class FileIO(_io._RawIOBase):
    """Stands in for the real FileIO, which this interpreter does not have."""

    def __init__(self, file, mode="r", *args, **kwargs):
        raise PermissionError(13, _DENIED, file)


_io.FileIO = FileIO
_io.open = _open
_io.open_code = _open
builtins.open = _open


# ---- standard streams -------------------------------------------------------------------


class _Buffer:
    """`sys.stdout.buffer`: bytes written are decoded as UTF-8."""

    def __init__(self, fd):
        self._fd = fd

    def write(self, b):
        b = bytes(b)
        _write(self._fd, b.decode("utf-8", "replace"))
        return len(b)

    def flush(self):
        pass


class _Stream:
    """What the standard streams share: text, UTF-8, no file descriptor."""

    encoding = "utf-8"
    errors = "strict"
    newlines = None
    closed = False
    mode = "r"

    def isatty(self):
        return False

    def readable(self):
        return self.mode == "r"

    def writable(self):
        return self.mode == "w"

    def seekable(self):
        return False

    def fileno(self):
        raise _io.UnsupportedOperation("fileno")

    def flush(self):
        pass

    def close(self):
        pass

    def __repr__(self):
        return "<_io.TextIOWrapper name='%s' mode='%s' encoding='utf-8'>" % (self.name, self.mode)


class _Output(_Stream):
    mode = "w"
    line_buffering = False

    def __init__(self, fd, name):
        self._fd = fd
        self.name = name
        self.buffer = _Buffer(fd)

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not " + type(s).__name__)
        _write(self._fd, s)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)


class _Input(_Stream):
    name = "<stdin>"

    def readline(self, size=-1):
        line = _readline()
        return "" if line is None else line

    def readlines(self, hint=-1):
        lines = []
        while True:
            line = _readline()
            if line is None:
                return lines
            lines.append(line)

    def read(self, size=-1):
        return "".join(self.readlines())

    def __iter__(self):
        return self

    def __next__(self):
        line = _readline()
        if line is None:
            raise StopIteration
        return line


sys.stdin = sys.__stdin__ = _Input()
sys.stdout = sys.__stdout__ = _Output(1, "<stdout>")
sys.stderr = sys.__stderr__ = _Output(2, "<stderr>")


_print = builtins.print


def print(*args, sep=" ", end="\n", file=None, flush=False):
    """Prints the values to a stream, or to sys.stdout by default. To polyrun's streams, one
    call is one write (one output event), not one per argument and separator."""
    if file is None:
        file = sys.stdout
    if type(file) is not _Output or not isinstance(sep, (str, type(None))) or not isinstance(
        end, (str, type(None))
    ):
        return _print(*args, sep=sep, end=end, file=file, flush=flush)
    file.write(
        (" " if sep is None else sep).join([str(a) for a in args])
        + ("\n" if end is None else end)
    )


builtins.print = print


def _input(prompt=""):
    """Reads a line of the run's stdin; the prompt goes to stdout, as CPython does."""
    if prompt != "":
        sys.stdout.write(str(prompt))
    line = sys.stdin.readline()
    if line == "":
        raise EOFError("EOF when reading a line")
    return line[:-1] if line.endswith("\n") else line


builtins.input = _input

# What CPython's `site` adds to builtins (this interpreter does not import `site`).
import _sitebuiltins

builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
builtins.help = _sitebuiltins._Helper()

# ---- a harmless os ----------------------------------------------------------------------

_os = type(sys)("os")
_os.__doc__ = "polyrun's sandboxed os: paths and constants, no access to the host."
_os.name = "posix"
_os.sep = "/"
_os.altsep = None
_os.extsep = "."
_os.pathsep = ":"
_os.linesep = "\n"
_os.defpath = "/bin:/usr/bin"
_os.curdir = "."
_os.pardir = ".."
_os.devnull = "/dev/null"
_os.environ = {}
_os.environb = {}
_os.error = OSError
_os.supports_dir_fd = set()
_os.supports_fd = set()
_os.supports_effective_ids = set()
_os.supports_follow_symlinks = set()
_os.SEEK_SET, _os.SEEK_CUR, _os.SEEK_END = 0, 1, 2
_os.F_OK, _os.R_OK, _os.W_OK, _os.X_OK = 0, 4, 2, 1
# Linux's values, for modules that combine flags before calling a (refusing) function.
for _name, _value in {
    "O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_CREAT": 0o100, "O_EXCL": 0o200,
    "O_NOCTTY": 0o400, "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000,
    "O_DIRECTORY": 0o200000, "O_NOFOLLOW": 0o400000, "O_CLOEXEC": 0o2000000,
}.items():
    setattr(_os, _name, _value)
_os._have_functions = []


def _getenv(key, default=None):
    return default


def _fspath(path):
    if isinstance(path, (str, bytes)):
        return path
    fspath = getattr(type(path), "__fspath__", None)
    if fspath is None:
        raise TypeError(
            "expected str, bytes or os.PathLike object, not " + type(path).__name__
        )
    result = fspath(path)
    if not isinstance(result, (str, bytes)):
        raise TypeError("expected __fspath__() to return str or bytes")
    return result


def _fsencode(filename):
    filename = _fspath(filename)
    return filename.encode("utf-8", "surrogateescape") if isinstance(filename, str) else filename


def _fsdecode(filename):
    filename = _fspath(filename)
    return filename.decode("utf-8", "surrogateescape") if isinstance(filename, bytes) else filename


class _Record(tuple):
    """A fixed-size record with named fields, like the host's `os.stat_result`."""

    _fields = ()

    def __new__(cls, values=(), dict=None):
        values = tuple(values)
        if len(values) < len(cls._fields):
            values = values + (None,) * (len(cls._fields) - len(values))
        return tuple.__new__(cls, values)

    def __getattr__(self, name):
        try:
            return self[type(self)._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None


class stat_result(_Record):
    _fields = (
        "st_mode st_ino st_dev st_nlink st_uid st_gid st_size st_atime st_mtime st_ctime"
    ).split()


class terminal_size(_Record):
    _fields = ("columns", "lines")


class uname_result(_Record):
    _fields = ("sysname", "nodename", "release", "version", "machine")


class times_result(_Record):
    _fields = ("user", "system", "children_user", "children_system", "elapsed")


class DirEntry:
    def __init__(self, *args, **kwargs):
        _denied()


import abc as _abc


class PathLike(_abc.ABC):
    """Abstract base class for implementing the file system path protocol."""

    @classmethod
    def __subclasshook__(cls, subclass):
        return hasattr(subclass, "__fspath__") or NotImplemented


def _strerror(code):
    return "error %d" % code


def _register_at_fork(**kwargs):
    pass


def _terminal_size(fd=1):
    raise OSError(25, "Inappropriate ioctl for device")


for _name, _value in {
    "getenv": _getenv,
    "getenvb": _getenv,
    "getcwd": lambda: "/",
    "getcwdb": lambda: b"/",
    "getpid": lambda: 1,
    "getppid": lambda: 0,
    "getuid": lambda: 1000,
    "geteuid": lambda: 1000,
    "getgid": lambda: 1000,
    "getegid": lambda: 1000,
    "cpu_count": lambda: 1,
    "process_cpu_count": lambda: 1,
    "umask": lambda mask: 0o022,
    "urandom": _urandom,
    "fspath": _fspath,
    "fsencode": _fsencode,
    "fsdecode": _fsdecode,
    "PathLike": PathLike,
    "stat_result": stat_result,
    "terminal_size": terminal_size,
    "uname_result": uname_result,
    "times_result": times_result,
    "DirEntry": DirEntry,
    "strerror": _strerror,
    "register_at_fork": _register_at_fork,
    "get_terminal_size": _terminal_size,
    "device_encoding": lambda fd: None,
    "isatty": lambda fd: False,
}.items():
    setattr(_os, _name, _value)

# Everything that would touch the host exists and refuses.
for _name in (
    "access chdir chmod chown chroot close closerange dup dup2 execl execle execlp execlpe execv "
    "execve execvp execvpe fchdir fchmod fchown fdopen fork forkpty fstat fsync ftruncate "
    "get_blocking getloadavg getlogin kill killpg lchown link listdir lseek lstat makedirs "
    "mkdir mkfifo mknod nice open openpty pipe popen putenv read readlink remove removedirs "
    "rename renames replace rmdir scandir sendfile set_blocking setsid spawnl spawnle spawnlp "
    "spawnlpe spawnv spawnve spawnvp spawnvpe startfile stat statvfs symlink sync system "
    "times truncate uname unlink unsetenv utime wait wait3 wait4 waitpid walk write fwalk "
    "abort _exit getrandom"
).split():
    setattr(_os, _name, _denied)


def _os_getattr(name):
    raise AttributeError(
        "module 'os' has no attribute %r (polyrun's sandbox has no host OS)" % name
    )


_os.__getattr__ = _os_getattr
sys.modules["os"] = sys.modules["posix"] = _os

# A `_signal` whose handlers are recorded but never invoked (the guest gets no signals), so
# that `signal`, `unittest` and friends import.
_signal = type(sys)("_signal")
_signal.SIG_DFL, _signal.SIG_IGN, _signal.NSIG = 0, 1, 65
for _name, _value in {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
    "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
    "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
}.items():
    setattr(_signal, _name, _value)
_handlers = {}


def _default_int_handler(signum, frame):
    raise KeyboardInterrupt


def _signal_signal(signum, handler):
    previous = _handlers.get(signum, _signal.SIG_DFL)
    _handlers[signum] = handler
    return previous


_signal.default_int_handler = _default_int_handler
_signal.signal = _signal_signal
_signal.getsignal = lambda signum: _handlers.get(signum, _signal.SIG_DFL)
_signal.alarm = _denied
_signal.raise_signal = _denied
_signal.pthread_kill = _denied
_signal.set_wakeup_fd = lambda fd, **kw: -1
_signal.siginterrupt = lambda signum, flag: None
_signal.strsignal = lambda signum: "signal %d" % signum
_signal.valid_signals = lambda: set(range(1, 65))
sys.modules["_signal"] = _signal

import posixpath as _posixpath

_os.path = _posixpath
sys.modules["os.path"] = _posixpath

# No paths of the host machine are visible.
sys.path = []
sys.executable = ""
sys._base_executable = ""
# The host process's command line (its binary's path, the CLI's arguments) is not the guest's.
sys.orig_argv = ["python"]
sys.prefix = sys.exec_prefix = sys.base_prefix = sys.base_exec_prefix = "/"
sys.platlibdir = "lib"



# Code objects come from the compiler only: RustPython runs bytecode unchecked, so marshal data
# holding a code object (which may carry any bytecode) is refused. The rest of marshal works.
import marshal as _marshal

_marshal_loads, _marshal_load = _marshal.loads, _marshal.load
_code_type = type(_denied.__code__)


def _no_code(obj):
    todo = [obj]
    while todo:
        o = todo.pop()
        if type(o) is _code_type:
            raise ValueError("polyrun: marshal data holding code objects is refused here")
        if isinstance(o, (tuple, list, set, frozenset)):
            todo.extend(o)
        elif isinstance(o, dict):
            todo.extend(o.keys())
            todo.extend(o.values())
    return obj


_marshal.loads = lambda *args, **kwargs: _no_code(_marshal_loads(*args, **kwargs))
_marshal.load = lambda *args, **kwargs: _no_code(_marshal_load(*args, **kwargs))


# RustPython's JSON decoder recurses on the native stack without a depth check: every scan is
# measured first (`_json_nesting`, in Rust), and a document nested deeper than the recursion
# limit raises RecursionError, as CPython's decoder does.
import _json

_make_scanner = _json.make_scanner


def _measured_scanner(context):
    scan = _make_scanner(context)

    def scan_once(string, idx):
        _json_nesting(string, idx)
        return scan(string, idx)

    return scan_once


_json.make_scanner = _measured_scanner
