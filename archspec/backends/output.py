"""Writing generated files: atomically, deterministically, and checkably."""

from __future__ import annotations

import difflib
import errno
import os
import stat
import tempfile
from pathlib import Path

DEFAULT_ROOT = Path("generated")


def output_path(name: str, backend: str, out_dir: str | os.PathLike[str] | None) -> Path:
    """``generated/<backend>/<name>.py`` by default; ``<out_dir>/<name>.py`` with ``-o``."""
    base = Path(out_dir) if out_dir is not None else DEFAULT_ROOT / backend
    return base / f"{name}.py"


def write_atomic(path: Path, text: str) -> bool:
    """Write Python source ``text`` to ``path`` through a temporary file in the same folder,
    compiled first, then moved into place with ``os.replace``.  A failure leaves any existing
    file untouched.  Returns False when the file already held exactly this text."""
    compile(text, str(path), "exec")  # a SyntaxError here never reaches the disk
    return write_atomic_text(path, text)


def write_atomic_text(path: Path, text: str) -> bool:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    return write_atomic_bytes(path, text.encode("utf-8"))


def write_atomic_bytes(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then
    ``os.replace``.  Returns False when the file already held exactly these bytes.

    The file gets the mode ``open()`` would give it: an existing file keeps its mode, a new
    one gets ``0o666`` less the umask (``mkstemp`` creates its file ``0o600``: the mode is set
    before the move).  The temporary name is short, so that a target name near the file-name
    limit still fits.  A folder in the way that is a file raises NotADirectoryError."""
    if path.is_file() and path.read_bytes() == data:
        return False
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent)) from None
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=".as-", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return True


def _umask() -> int:
    """The process's umask (read without changing it where /proc tells it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def stale_diff(path: Path, text: str) -> str | None:
    """None when ``path`` holds exactly ``text``; otherwise a unified diff (or a 'missing' note)."""
    if not path.is_file():
        return f"{path}: missing\n"
    current = path.read_text(encoding="utf-8")
    if current == text:
        return None
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=f"{path} (on disk)",
        tofile=f"{path} (from spec)",
    )
    return "".join(diff)
