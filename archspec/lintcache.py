"""A cache of ``archspec lint`` reports, for editors and hooks that lint the same content again.

``archspec lint`` run as a command (not :func:`archspec.cli.main` called with arguments) looks
its report up before importing anything heavy.  The key is everything the report can depend
on: the arguments, the working folder, the text read from standard input, the environment
variables that change the output, whether the streams are terminals, the Python interpreter,
archspec's version and the size and time of every file of the installed package.  An entry
also lists what the run read: each file's content hash (spec, ``extends:``/``use:`` files,
configuration) and the modification time of the folders above them and above the specs and the
working folder (a file created there), and the configuration files looked for in every folder
above (an ``archspec.toml`` created in a parent folder is seen).  Anything changed: the spec is
linted again.

Cached: a text, JSON, GitHub or SARIF report of spec files or standard input that exits 0 (a
report whose findings fail the run is always made afresh, since its spec is being worked on).
Never cached: ``--fix``, ``--diff``, ``--output-file``, import targets (``model.py:Net``).
The cache lives in ``$ARCHSPEC_CACHE_DIR``, else ``$XDG_CACHE_HOME/archspec``, else
``~/.cache/archspec``; ``ARCHSPEC_NO_CACHE=1`` turns it off.  Any problem with the cache (a
read-only home, a corrupt entry) only makes the run a normal one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Sequence

#: bump when what an entry holds changes
FORMAT = 1
#: entries kept; the oldest half goes when there are more
MAX_ENTRIES = 2000
#: files larger than this are recorded by size and time instead of content
MAX_HASHED = 8 * 1024 * 1024
#: options that write files or change files: never cached
UNCACHED = ("--fix", "--diff", "-o", "--output-file", "-h", "--help", "--unsafe-fixes")
#: environment variables that change a report
ENVIRONMENT = ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "GITHUB_ACTIONS", "PYTHONUTF8", "PYTHONIOENCODING")

#: looked for in the spec's folder and every folder above it (archspec/lint/config.py)
CONFIG_FILES = ("archspec.toml", "pyproject.toml")

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def cache_dir() -> str | None:
    if os.environ.get("ARCHSPEC_NO_CACHE"):
        return None
    base = os.environ.get("ARCHSPEC_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "archspec")
    return os.path.join(base, "lint")


def cacheable(args: Sequence[str]) -> bool:
    """``args`` (after ``lint``) name a run whose report can be kept."""
    for arg in args:
        if arg in UNCACHED or any(arg.startswith(f"{o}=") for o in UNCACHED if o.startswith("--")):
            return False
        if arg.startswith("-o") and arg != "-o" and not arg.startswith("--"):
            return False
        if ":" in arg and not arg.startswith("-") and not os.path.exists(arg):
            return False  # an import target: the model's code is outside what the key covers
    return True


def _package_fingerprint(digest) -> None:
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            st = os.stat(os.path.join(folder, name))
            digest.update(
                f"{os.path.relpath(os.path.join(folder, name), _PACKAGE)}:{st.st_size}:{st.st_mtime_ns}\n".encode()
            )


def _stdout_isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def key(args: Sequence[str], stdin_text: str | None) -> str:
    from archspec import __version__

    digest = hashlib.sha256()
    parts = {
        "format": FORMAT,
        "version": __version__,
        "python": sys.version,
        "executable": sys.executable,
        "args": list(args),
        "cwd": os.getcwd(),
        "env": {name: os.environ.get(name) for name in ENVIRONMENT},
        "archspec_env": {k: v for k, v in os.environ.items() if k.startswith("ARCHSPEC_")},
        "tty": [_stdout_isatty(sys.stdout), _stdout_isatty(sys.stderr)],
        # an installed or removed distribution changes its folder on sys.path
        "path": [(p, _mtime(p)) for p in sys.path if p],
    }
    digest.update(json.dumps(parts, sort_keys=True).encode())
    _package_fingerprint(digest)
    if stdin_text is not None:
        digest.update(b"\0stdin\0" + stdin_text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _file_state(path: str) -> list | None:
    """A file's content hash (or size and time when large); None when it is not a regular file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return ["other", st.st_mtime_ns]
    if st.st_size > MAX_HASHED:
        return ["stat", st.st_size, st.st_mtime_ns]
    try:
        with open(path, "rb") as handle:
            return ["sha256", hashlib.sha256(handle.read()).hexdigest()]
    except OSError:
        return None


def _fresh(deps: dict) -> bool:
    for path, state in deps.get("files", {}).items():
        if _file_state(path) != state:
            return False
    for path, mtime in deps.get("folders", {}).items():
        if _mtime(path) != mtime:
            return False
    return True


class _Tee(io.TextIOBase):
    """Writes through to ``stream`` and keeps a copy."""

    def __init__(self, stream):
        self._stream = stream
        self.kept = io.StringIO()

    def write(self, text):
        self.kept.write(text)
        return self._stream.write(text)

    def flush(self):
        self._stream.flush()

    def isatty(self):
        return _stdout_isatty(self._stream)

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    def fileno(self):
        return self._stream.fileno()


class _Recorder:
    """Every file opened for reading while it is on (an audit hook: it cannot be removed, so it
    only listens between ``start`` and ``stop``)."""

    def __init__(self):
        self.on = False
        self.paths: set[str] = set()

    def __call__(self, event, args):
        if not self.on or event != "open":
            return
        path, mode = args[0], args[1]
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if isinstance(path, str) and (mode is None or not any(c in str(mode) for c in "wax+")):
            self.paths.add(os.path.abspath(path))


def _ignored(path: str) -> bool:
    """Files the key already covers (the interpreter's and installed packages', archspec's own)."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, _PACKAGE}
    return path.startswith(("/dev/", "/proc/")) or any(path.startswith(p + os.sep) for p in prefixes if p)


def _watched(paths) -> tuple[dict[str, int | None], dict[str, list | None]]:
    """The folders holding ``paths`` (a file created there, such as a spec that was missing),
    and the configuration files looked for in every folder above them (created, removed or
    edited)."""
    folders: dict[str, int | None] = {}
    configs: dict[str, list | None] = {}
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        folders[folder] = _mtime(folder)
        while True:
            for name in CONFIG_FILES:
                candidate = os.path.join(folder, name)
                if candidate not in configs:
                    configs[candidate] = _file_state(candidate)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return folders, configs


def _store(directory: str, name: str, entry: dict) -> None:
    os.makedirs(directory, exist_ok=True)
    names = os.listdir(directory)
    if len(names) > MAX_ENTRIES:
        aged = sorted(names, key=lambda n: _mtime(os.path.join(directory, n)) or 0)
        for old in aged[: len(aged) // 2]:
            try:
                os.unlink(os.path.join(directory, old))
            except OSError:
                pass
    temporary = os.path.join(directory, f".{name}.{os.getpid()}")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(entry, handle)
    os.replace(temporary, os.path.join(directory, name))


def run(args: Sequence[str], main: Callable[[Sequence[str]], int]) -> int:
    """``archspec lint ARGS`` through the cache; ``main(["lint", *args])`` runs it for real."""
    directory = cache_dir()
    if directory is None or not cacheable(args):
        return main(["lint", *args])
    stdin_text = None
    if "-" in args:
        stdin_text = sys.stdin.read()
        sys.stdin = io.StringIO(stdin_text)
    try:
        name = key(args, stdin_text)
    except (OSError, ValueError):
        return main(["lint", *args])
    try:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            entry = json.load(handle)
        if entry.get("format") == FORMAT and _fresh(entry["deps"]):
            sys.stdout.write(entry["stdout"])
            sys.stderr.write(entry["stderr"])
            return int(entry["code"])
    except (OSError, ValueError, KeyError, TypeError):
        pass

    recorder = _Recorder()
    sys.addaudithook(recorder)
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    recorder.on = True
    try:
        code = main(["lint", *args])
    finally:
        recorder.on = False
        sys.stdout, sys.stderr = real_out, real_err
    if code != 0:
        return code  # findings that fail are being worked on: always linted afresh
    try:
        os.makedirs(directory, exist_ok=True)  # first: it may be inside a watched folder
        read = sorted(p for p in recorder.paths if not _ignored(p))
        watched = [*read, os.path.join(os.getcwd(), "."), *(a for a in args if not a.startswith("-"))]
        folders, configs = _watched(watched)
        deps = {"files": {**configs, **{p: _file_state(p) for p in read}}, "folders": folders}
        entry = {
            "format": FORMAT,
            "deps": deps,
            "stdout": out.kept.getvalue(),
            "stderr": err.kept.getvalue(),
            "code": code,
        }
        _store(directory, name, entry)
    except (OSError, ValueError, TypeError):
        pass
    return code
