"""Files in and out: text read from any file or upload, and atomic writing of every export.

:func:`read_text` decodes what users send (policy files, code lists, directories, request
bodies): UTF-8 with or without the byte order mark spreadsheets write, else one error naming
the line of the first bad byte. A file written is either its earlier content or the whole new
one, never a part.

Every export goes through :func:`atomic_write`: the text is written to a temporary file in the
same directory, flushed and synced to disk, renamed over the target, and the directory synced,
so a full disk, a size limit or a killed process leaves an earlier file as it was (and no
temporary file behind). A *mode* (``0o600`` for files holding authorization codes) is set on
the temporary file before any byte is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final, TextIO

from ._errors import InvalidValueError

__all__ = ["CODE_FILE_MODE", "atomic_write", "read_text"]

#: The mode of every file that holds codes: an account code may become an authorization code.
CODE_FILE_MODE: Final = 0o600
_DEFAULT_MODE: Final = 0o666


@contextlib.contextmanager
def atomic_write(
    path: Path | str,
    *,
    mode: int | None = None,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> Iterator[TextIO]:
    """Open a text file that replaces *path* only when the block ends without an exception.

    *mode* is the new file's permission bits; without it, those of an ordinary new file (0o666
    less the umask). Raises ``OSError`` as writing does; the target is then untouched.
    """
    target = Path(path)
    directory = target.parent
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, _DEFAULT_MODE & ~umask)
        else:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as file:
            fd = -1
            yield file
            file.flush()
            os.fsync(file.fileno())
        Path(temp).replace(target)
    except BaseException:
        if fd != -1:
            os.close(fd)
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise
    _sync_directory(directory)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable: sync the directory (where the system allows it)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_text(data: bytes, source: str) -> str:
    """Decode a policy file: UTF-8, with or without a byte order mark.

    Anything else is refused with :class:`InvalidValueError` naming the line of the first byte
    that is not UTF-8. Runtime complexity: O(size).
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidValueError(
            "file",
            source,
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as "
            "UTF-8 (in a spreadsheet: 'CSV UTF-8')",
        ) from None
