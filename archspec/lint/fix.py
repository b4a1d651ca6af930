"""Applying fixes to a spec's text, showing them as a diff, writing them back.

A fix is a list of text edits located by the loader's spans (line, column, length), so
everything outside the edited values stays byte for byte as it was: comments, quoting, key
order, blank lines, line ends.  An edit whose text no longer reads as the fix expects, or
that overlaps an edit already taken, is skipped (the next round of ``fix_file`` re-lints).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
from pathlib import Path

from archspec.diagnostics import Edit, Fix

__all__ = ["apply_fixes", "unified_diff", "write_fixed", "write_preserving_mode"]

BOM = b"\xef\xbb\xbf"


def _offset(starts: list[int], text: str, line: int, column: int) -> int | None:
    if not 1 <= line <= len(starts):
        return None
    offset = starts[line - 1] + column - 1
    return offset if offset <= len(text) else None


def _line_starts(text: str) -> list[int]:
    """The offset of each line; YAML breaks lines at \\r\\n, \\n and \\r only."""
    return [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]


def apply_fixes(text: str, fixes: list[Fix]) -> tuple[str, list[Fix]]:
    """``text`` with every fix applied whose edits all apply cleanly; and those fixes."""
    starts = _line_starts(text)
    taken: list[tuple[int, int, str]] = []
    applied: list[Fix] = []
    for fix in fixes:
        edits: list[tuple[int, int, str]] = []
        for edit in fix.edits:
            located = _locate(text, starts, edit)
            if located is None:
                break
            edits.append(located)
        else:
            if all(not _overlap(e, t) for e in edits for t in taken) and not _self_overlap(edits):
                taken += edits
                applied.append(fix)
    out = text
    for start, end, replacement in sorted(taken, reverse=True):
        out = out[:start] + replacement + out[end:]
    return out, applied


def _locate(text: str, starts: list[int], edit: Edit) -> tuple[int, int, str] | None:
    start = _offset(starts, text, edit.span.line, edit.span.column)
    if start is None:
        return None
    end = start + edit.span.length
    if end > len(text) or "\n" in text[start:end] or "\r" in text[start:end]:
        return None
    if edit.original is not None and text[start:end] != edit.original:
        # a quoted key or string: the position is the quote's, the text follows it
        quote = text[start : start + 1]
        if quote not in ("'", '"') or text[start + 1 : end + 1] != edit.original or text[end + 1 : end + 2] != quote:
            return None
        start, end = start + 1, end + 1
    return start, end, edit.replacement


def _overlap(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    return a[0] < b[1] and b[0] < a[1] or a[0] == b[0]


def _self_overlap(edits: list[tuple[int, int, str]]) -> bool:
    return any(_overlap(a, b) for i, a in enumerate(edits) for b in edits[i + 1 :])


def unified_diff(before: str, after: str, name: str) -> str:
    relative = not Path(name).is_absolute()
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        f"a/{name}" if relative else name,
        f"b/{name}" if relative else name,
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def write_fixed(path: str | os.PathLike[str], text: str) -> None:
    """Write a repaired spec back: UTF-8, its byte-order mark kept if it had one, through a
    symbolic link to its target, atomically and with its permission bits."""
    target = Path(path).resolve()
    bom = BOM if target.read_bytes()[:3] == BOM else b""
    write_preserving_mode(target, bom + text.encode("utf-8"))


def write_preserving_mode(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (a temporary file in the same folder, then
    ``os.replace``), keeping the file's permission bits.  A failure leaves it untouched."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
