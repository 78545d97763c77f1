"""The one writer of the files gpufleet writes: :func:`write_atomic`.

Every file a command writes (``replicate`` and ``init``: the stack file; ``policy
--write-config``, ``init`` and ``replicate``: ``policies/config/<stack>.json`` and the
policy pack; ``check -o``: the report) goes through :func:`write_atomic`:

- the text goes to a temporary file in the target's own folder (``tempfile.mkstemp``),
  is flushed to the disk (``fsync``), and then takes the target's name in one step
  (``os.replace``; with ``exclusive=True`` ``os.link``, which never replaces a file that
  exists): a kill at any moment leaves the old file or the new one, never an empty or a
  half-written one, and no temporary file is left behind by a failure;
- a symbolic link at the target is refused (never followed, never replaced): a stack file
  or a report path that links elsewhere cannot make gpufleet write there;
- a replaced file keeps its mode; a new one is ``0o644``;
- a failure is one :class:`WriteError` (a one-line message naming the file and saying that
  nothing was written). Exit 2 (:class:`~gpufleet.exit_codes.BadInputError`) for a path the
  user can fix: a folder that is missing or not writable (read-only, no permission), a
  symbolic link or a directory at the target, an existing file that is never overwritten.
  Exit 3 (:class:`DiskError`, an :class:`~gpufleet.exit_codes.ExternalServiceError`) when
  the machine fails the write: a full disk or quota (``ENOSPC``, ``EDQUOT``), an I/O error:
  nothing in the command or its input is wrong, and the same command works once there is
  room, so CI does not blame the change under review.

:func:`all_or_nothing` groups the writes of one command (a stack file and its policy
config, the pack's files): when one fails, those already written are undone (a new file
removed, a replaced one restored), so a failure leaves no new file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from .exit_codes import BadInputError, ExternalServiceError

#: the mode of a file gpufleet creates (a replaced file keeps its own)
NEW_FILE_MODE = 0o644
#: errors of the machine, not of the path: exit 3
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}
_NOTHING = "nothing was written"


class WriteError(BadInputError):
    """A file that could not be written (one line; nothing was written): exit 2."""


class DiskError(WriteError, ExternalServiceError):
    """The disk failed the write (full, over quota, an I/O error): exit 3."""


def _shown(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def _reason(exc: OSError, folder: str) -> tuple[type[WriteError], str]:
    """(error class, what went wrong in the user's terms) of an OSError of a write."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return DiskError, "no space left on the device (the disk or the quota is full)"
    if code in _DISK_ERRNOS:
        return DiskError, f"the disk failed the write ({exc.strerror or exc})"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return WriteError, f"the folder {folder} is not writable ({exc.strerror or exc})"
    if code in (errno.ENOENT, errno.ENOTDIR):
        return WriteError, f"the folder {folder} does not exist"
    if code == errno.EEXIST:
        return WriteError, "the file already exists, and gpufleet never overwrites it"
    if code == errno.EISDIR:
        return WriteError, "a directory is in the way"
    return WriteError, f"{exc.strerror or exc}"


def _refuse(cls: type[WriteError], shown: str, reason: str) -> WriteError:
    return cls(f"cannot write {shown}: {reason}; {_NOTHING}")


#: the writes of the innermost :func:`all_or_nothing` block: (path, whether it existed, its
#: old content: None when it could not be read)
_UNDO: ContextVar[list[tuple[Path, bool, bytes | None]] | None] = ContextVar("gpufleet_atomic_undo", default=None)


def write_atomic(path: Path | str, text: str | bytes, *, exclusive: bool = False, shown: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see the module's doc); ``exclusive``:
    never replace an existing file. ``shown``: how messages name the file (default: relative
    to the current directory). Returns ``path``; raises :class:`WriteError` (or
    :class:`DiskError`) with nothing written."""
    path = Path(path)
    shown = shown or _shown(path)
    folder = path.parent
    folder_shown = _shown(folder) if str(folder) not in ("", ".") else "."
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise _refuse(WriteError, shown, f"the folder {folder_shown} does not exist") from None
    except OSError as exc:
        cls, reason = _reason(exc, folder_shown)
        raise _refuse(cls, shown, reason) from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise _refuse(WriteError, shown, "it is a symbolic link, and gpufleet never writes through one "
                                             "(remove the link, or write to another path)")
        if stat.S_ISDIR(st.st_mode):
            raise _refuse(WriteError, shown, "a directory is in the way")
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(WriteError, shown, "it is a special file (a device, pipe or socket), not a regular file")
        if exclusive:
            raise _refuse(WriteError, shown, "the file already exists, and gpufleet never overwrites it")
    if not folder.is_dir():
        raise _refuse(WriteError, shown, f"the folder {folder_shown} does not exist")
    mode = stat.S_IMODE(st.st_mode) if st is not None else NEW_FILE_MODE
    undo = _UNDO.get()
    old = _old_bytes(path) if undo is not None and st is not None else None
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            _link_exclusive(tmp, path)
        else:
            os.replace(tmp, path)  # renames over a symlink planted meanwhile, never through it
            tmp = None
        _sync_folder(folder)
    except OSError as exc:
        cls, reason = _reason(exc, folder_shown)
        raise _refuse(cls, shown, reason) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    if undo is not None:
        undo.append((path, st is not None, old))
    return path


def _link_exclusive(tmp: str, path: Path) -> None:
    """``tmp`` takes the name ``path`` only if nothing has it (``os.link`` fails with EEXIST
    otherwise, a dangling symlink included); ``tmp`` itself is removed by the caller. On a
    file system without hard links, an ``O_EXCL`` create (never replaces either; a kill
    during that write may leave the new file short, never an old one changed)."""
    try:
        os.link(tmp, path)
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
    with open(tmp, "rb") as src:
        data = src.read()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), os.stat(tmp).st_mode & 0o7777)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def _sync_folder(folder: Path) -> None:
    """The rename itself on the disk (best effort: some file systems cannot fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _old_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """The writes inside the block all stay, or none does: on an exception, every file
    :func:`write_atomic` wrote in the block is undone (a new one removed, a replaced one
    written back with its old content, keeping its mode), newest first, and the exception
    goes on. Blocks nest: an inner block's writes are the outer block's too."""
    outer = _UNDO.get()
    undo: list[tuple[Path, bool, bytes | None]] = []
    token = _UNDO.set(undo)
    try:
        yield
    except BaseException:
        _UNDO.reset(token)
        for path, existed, old in reversed(undo):
            with contextlib.suppress(Exception):
                if not existed:
                    os.unlink(path)
                elif old is not None:
                    write_atomic(path, old)
        raise
    _UNDO.reset(token)
    if outer is not None:
        outer.extend(undo)
