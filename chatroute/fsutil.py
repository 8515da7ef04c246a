"""Writing the files chatroute owns (prices, config, health, preferences, serve tokens and state,
local model sizes, exports): one atomic, link-refusing helper, `atomic_write`, and the
owner-only folders they live in."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path

from chatroute.errors import ChatrouteError


def private_dir(path: Path) -> Path:
    """Make sure the folder `path` exists; if chatroute has to create it, it is owner-only (0700),
    since what goes in it (conversations, exports, a config that may hold a key) is private.

    A folder that already exists keeps its mode: it may be one the user made or chose. Missing
    parents get the default mode, as they may be shared ones (~/.local/share).
    """
    if not path.is_dir():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                # Another chatroute process may have made it meanwhile; a file in the way is an error.
                if not path.is_dir():
                    raise
        except OSError as exc:
            raise FolderError(_folder_problem(path, exc)) from None
    return path


class FolderError(ChatrouteError, OSError):
    """A folder chatroute keeps files in cannot be made (a file in its place or above it, e.g.
    CHATROUTE_HOME naming a file). Exit 2: it is the setup that is wrong. An OSError too, so
    callers that treat a failed write of an informative file as non-fatal still do."""

    exit_code = 2


def _folder_problem(path: Path, exc: OSError) -> str:
    # mkdir's own error names the deepest path it tried, not the file that is in the way.
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                where = "is" if existing == path else f"cannot be made: {existing} is"
                return f"{path}: {where} a file, not a folder; chatroute keeps its files there"
            break
    return f"{path}: cannot make this folder ({exc.strerror or exc})"


class UnsafeFileError(ChatrouteError, OSError):
    """A file chatroute writes is, at its path, something other than a regular file (a symbolic
    link, a folder, a FIFO): nothing was written. An OSError too, so callers that treat a failed
    write of an informative file as non-fatal (`except OSError`) still do."""

    exit_code = 2


class WriteFailedError(ChatrouteError, OSError):
    """A file chatroute owns could not be written (a full disk, a read-only folder): the file is as
    it was, and no temporary is left. One line naming the file, exit 2 like the database's
    storage errors. An OSError too (errno kept), so best-effort writers that catch OSError still
    go on without it."""

    exit_code = 2

    def __init__(self, path: Path, cause: OSError, *, existed: bool) -> None:
        reason = cause.strerror or str(cause) or type(cause).__name__
        if cause.errno in (errno.EACCES, errno.EPERM):
            # The file is replaced by a new one made beside it: it is the folder that must be writable.
            reason = f"{path.parent} is not writable: {reason}"
        kept = "the file is as it was" if existed else "nothing was written"
        super().__init__(f"{path}: could not be written ({reason}); {kept}")
        self.errno = cause.errno
        self.strerror = cause.strerror

    def __str__(self) -> str:  # the sentence, not OSError's "[Errno N] ..."
        return str(self.args[0])


def atomic_write(path: Path, data: str | bytes, *, secret: bool = False, mode: int | None = None,
                 durable: bool = True) -> None:
    """Replace `path`, a file chatroute owns, with `data`: every write of such a file goes here.

    - Atomic: a temporary file in the same folder, fsynced (`durable`), then os.replace, so a
      reader, or the file after a crash or an exception mid-write, is the old file or the new one.
    - A symbolic link (or anything but a regular file) at `path` is refused with UnsafeFileError,
      never written through and never silently replaced: such a link is either the user's (a
      dotfile manager, a folder on another disk), which replacing would quietly detach, or planted
      to make chatroute overwrite the file it points to (or publish a secret there). Someone has
      to look, as for config.toml. Were a link planted between the check and the rename, the
      rename replaces the link itself: the file it points to is still never written.
    - The temporary file is created O_EXCL | O_NOFOLLOW with mode 0600, so a link planted at its
      (random) name is refused and no byte is ever readable by others before its mode is set.
    - Mode of the result: 0600 when `secret` (whatever the old file had), `mode` when given, else
      that of the file replaced (a prices file the user made readable stays so), else 0600.
    - A write that fails (a full disk, a folder chatroute may not write in) raises
      WriteFailedError naming `path`; the old file is left as it was.

    `durable=False` skips the fsyncs, for state rewritten after every turn (health, preferences)
    where losing the last update on a power cut costs nothing.
    """
    private_dir(path.parent)
    final_mode = 0o600 if secret else (mode if mode is not None else _mode_to_keep(path))
    existed = path.exists()
    try:
        _replace(path, data.encode("utf-8") if isinstance(data, str) else data, final_mode, durable)
    except UnsafeFileError:
        raise
    except OSError as exc:  # a full disk, a read-only folder: said of the file, not of its hidden temporary
        raise WriteFailedError(path, exc, existed=existed) from exc
    if durable:
        _fsync_dir(path.parent)
    _sweep_stale_temps(path)


# A temporary this old is no write in progress: its process was killed between creating it and
# the rename (SIGTERM, a closed terminal, kill -9), and nothing else will ever remove it.
STALE_TEMP_S = 3600.0


def _sweep_stale_temps(path: Path) -> None:
    """Remove the temporaries of `path` that killed writes left behind. Best effort."""
    now = time.time()
    try:
        prefix = f".{path.name}."
        names = [n for n in os.listdir(path.parent)
                 if n.startswith(prefix) and _TEMP_TAIL.fullmatch(n[len(prefix):])]
    except OSError:
        return
    for name in names:
        temp = path.parent / name
        try:
            st = os.lstat(temp)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TEMP_S:
                temp.unlink()
        except OSError:
            pass


def _replace(path: Path, data: bytes, final_mode: int, durable: bool) -> None:
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            if final_mode != 0o600:  # before the first byte, and not subject to the umask
                _set_mode(fh.fileno(), tmp, final_mode)
            fh.write(data)  # exactly as given (a config keeps its CRLF endings)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        _refuse_unsafe(path)  # (again) as late as can be: a link may have appeared while writing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_to_keep(path: Path) -> int:
    """The permission bits of the regular file at `path`, 0600 when there is none; refuses a
    link or anything else that is not a regular file."""
    _refuse_unsafe(path)
    try:
        return stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        return 0o600


def _refuse_unsafe(path: Path) -> None:
    what = unsafe_reason(path)
    if what is not None:
        raise UnsafeFileError(f"{path}: not written: it {what}; chatroute only replaces its own regular files. "
                              f"Remove it (or move it aside) and retry")


def unsafe_reason(path: Path) -> str | None:
    """Why atomic_write would refuse `path` ('is a symbolic link (-> …)'), None if it would not."""
    try:
        st = os.lstat(path)
    except OSError:  # absent, or a folder on the way that is not one: the write itself will say
        return None
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        what = f"is a symbolic link (-> {target})"
    elif stat.S_ISDIR(st.st_mode):
        what = "is a folder"
    else:
        what = "is not a regular file"
    return what


def _set_mode(fd: int, path: str, mode: int) -> None:
    """Set the open temporary file's mode (by descriptor where the platform can: Windows' os has
    only chmod)."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:
        os.chmod(path, mode)


_TEMP_TAIL = re.compile(r"[0-9a-f]{12}\.tmp")  # _create_temp names them .NAME.<12 hex>.tmp


def _create_temp(path: Path) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:  # taken (or a planted link): another name
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable. Best effort: some filesystems cannot fsync a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def broken_link(path: Path) -> str | None:
    """What is wrong when `path` is a symbolic link that leads nowhere (dangling, or a loop),
    else None. Such a path must never be replaced by a file of ours: the link is the user's
    (a dotfile manager's, a mount not there yet), and replacing it would silently drop what it
    pointed to."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        if exc.errno == errno.ELOOP:
            return f"is a symbolic link that loops (-> {target})"
        if exc.errno == errno.ENOENT:
            return f"is a symbolic link to {target}, which does not exist"
        return f"is a symbolic link to {target}, which cannot be reached ({exc.strerror or exc})"
    return None


def create_new(path: Path, data: str, *, mode: int = 0o600) -> bool:
    """Write `data` to `path` only if nothing at all is there (not even a dangling link), whole
    or not at all. False when something already is."""
    private_dir(path.parent)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            _set_mode(fh.fileno(), tmp, mode)  # before the first byte
            fh.write(data)
        try:
            os.link(tmp, path)  # unlike rename, never replaces what is there
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: O_EXCL also refuses any existing path
            try:
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            except FileExistsError:
                return False
            with os.fdopen(out, "w", encoding="utf-8") as fh:
                fh.write(data)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)
