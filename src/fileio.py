"""Files the project writes and reads: atomic writes, output-location checks, UTF-8 text, folder locks.

Why here and nowhere else: a kill at any moment must never leave a file with a final-looking
name and partial content, and a planted symlink must never redirect a write. So every output is
written under a hidden temporary name (``.<name>.<pid>.<random>.tmp[<suffix>]``, created with
O_EXCL in the target's own folder) and renamed onto its final name only when complete. The pid
in the name lets a later run tell a dead run's leftovers (``remove_stale_temporaries``) from a
live run's. No MindSpore import: data tools and tests use this without loading it.
"""
import os
import secrets
import shutil
import signal
import socket
import stat
from contextlib import contextmanager

from src.errors import UserError

_TMP_MARK = ".tmp"
LOCK_NAME = ".autodeeplab.lock"
KILL_VAR = "AUTODEEPLAB_TEST_KILL_AT"
_kill_hits = {}


# A new file, never an existing one or a symlink's target.
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _temporary_name(path, suffix=""):
    """Hidden sibling of ``path``: ``.<name>.<pid>.<random>.tmp<suffix>`` (suffix kept for picky writers)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, ".%s.%d.%s%s%s" % (name, os.getpid(), secrets.token_hex(4), _TMP_MARK, suffix))


def _remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_path(path, keep_suffix=False):
    """Yield a hidden temporary path beside ``path``; it is renamed onto ``path`` only on success.

    The temporary file is created empty with O_EXCL (a planted symlink or another run's file makes
    this fail instead of being followed), so the writer opens an existing regular file. With
    ``keep_suffix`` the name ends in the final name's suffix (ms.save_checkpoint wants .ckpt,
    np.savez appends .npz otherwise, matplotlib picks the format from it) and stays hidden.
    On any exception, KeyboardInterrupt included, the temporary is removed and ``path`` is untouched.
    """
    temporary = _temporary_name(path, os.path.splitext(path)[1] if keep_suffix else "")
    os.close(os.open(temporary, NEW_FILE_FLAGS, 0o644))
    try:
        yield temporary
        kill_point("atomic_path")
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise


@contextmanager
def atomic_write(path, mode="w", encoding="utf-8", newline=None):
    """Open a hidden temporary file for writing; on success it becomes ``path`` (see ``atomic_path``)."""
    with atomic_path(path) as temporary:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with open(temporary, mode, **kwargs) as handle:
            yield handle


def kill_point(name):
    """Test hook: signal this process at the N-th pass through point ``name`` when
    $AUTODEEPLAB_TEST_KILL_AT is ``name[:N[:SIGNAL]]`` (default N 1, SIGKILL), so interruption
    tests choose the moment deterministically instead of by sleeping. A no-op otherwise."""
    wanted = (os.environ.get(KILL_VAR) or "").split(":")
    if wanted[0] != name:
        return
    _kill_hits[name] = _kill_hits.get(name, 0) + 1
    if _kill_hits[name] == int(wanted[1] if len(wanted) > 1 else 1):
        os.kill(os.getpid(), signal.Signals["SIG" + (wanted[2] if len(wanted) > 2 else "KILL")])


@contextmanager
def temporary_folder(beside):
    """A hidden scratch folder next to ``beside`` (same file system, so its files can be renamed out);
    always removed at the end. A killed run's folder is removed by ``remove_stale_temporaries``."""
    temporary = _temporary_name(beside)
    os.mkdir(temporary, 0o700)
    try:
        yield temporary
    finally:
        _remove(temporary)


@contextmanager
def atomic_folder(path, replace=False):
    """Yield a hidden temporary folder beside ``path``; on success it is renamed onto ``path``.

    With ``replace`` an existing ``path`` is first renamed to a hidden name and removed only after
    the new folder is in place, so at no moment is a half-written or half-deleted folder visible
    under the final name.
    """
    temporary = _temporary_name(path)
    os.mkdir(temporary, 0o755)
    try:
        yield temporary
        _swap_in(temporary, path, replace)
    except BaseException:
        _remove(temporary)
        raise


def _swap_in(temporary, path, replace):
    old = None
    if os.path.lexists(path):
        if not replace:
            raise UserError("'%s' already exists; pass --overwrite to replace it or choose another output" % path)
        old = _temporary_name(path, ".old")
        os.replace(path, old)
    os.replace(temporary, path)
    if old:
        _remove(old)


def replace_files(pairs, old_files=()):
    """Move a finished set of files in (``(temporary, final)`` pairs, in the given order), replacing ``old_files``.

    The order is the caller's fixed choice (e.g. data files before their .db indexes, so a set
    cut short lacks an index and is recognised as incomplete). The old set is renamed to hidden
    names first and deleted only once every new file is in place; on an exception (Ctrl-C,
    SIGTERM) the new files are taken out and the old set is put back.
    """
    aside = []
    try:
        for old in old_files:
            aside.append((old, _temporary_name(old, ".old")))
            os.replace(*aside[-1])
        for temporary, final in pairs:
            os.replace(temporary, final)
            kill_point("replace_files")
    except BaseException:
        for temporary, final in pairs:
            if not os.path.exists(temporary) and os.path.exists(final):
                _remove(final)
        for old, hidden in aside:
            os.replace(hidden, old)
        raise
    for _, hidden in aside:
        _remove(hidden)


def _pid_alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder, name_prefix=""):
    """Remove hidden temporaries (files or folders) of dead processes in ``folder``; returns them.

    Only names this module makes (``.<name>.<pid>.<random>.tmp...``) are touched, and only when
    their pid is no longer running on this host, so a live concurrent run keeps its files.
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    for entry in os.listdir(folder):
        if not entry.startswith("." + name_prefix) or _TMP_MARK not in entry:
            continue
        parts = entry[1:].split(_TMP_MARK)[0].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or _pid_alive(int(parts[1])):
            continue
        _remove(os.path.join(folder, entry))
        removed.append(os.path.join(folder, entry))
    return removed


def check_output_location(path, kind="folder", what="--output_path"):
    """Fail early, in one line, when ``path`` cannot take this output; returns the absolute path.

    Catches: empty path, a path that exists as the wrong type, a path under a file, and a folder
    that is not writable (a probe file in the nearest existing folder proves it). Nothing is
    created, so a run that stops later at bad input leaves no empty output folder behind.
    """
    fix = "pass %s with a writable %s" % (what, "folder" if kind == "folder" else "file path")
    if not path:
        raise UserError("%s is empty; %s" % (what, fix))
    path = os.path.abspath(path)
    folder = path if kind == "folder" else os.path.dirname(path)
    if kind == "folder" and os.path.exists(path) and not os.path.isdir(path):
        raise UserError("%s '%s' is a file, not a folder; %s" % (what, path, fix))
    if kind == "file" and os.path.isdir(path):
        raise UserError("%s '%s' is a folder, not a file; %s" % (what, path, fix))
    parent = folder
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError("%s '%s' lies under '%s', which is a file; %s" % (what, path, parent, fix))
    try:
        with atomic_path(os.path.join(parent, "write-test")):
            raise _Probe
    except _Probe:
        pass
    except OSError as exc:
        raise UserError("%s '%s' is not writable (%s); %s" % (what, path, exc.strerror or exc, fix)) from None
    return path


class _Probe(Exception):
    """Aborts the probe write so ``atomic_path`` removes its temporary file."""


def read_text(path, what="file"):
    """The UTF-8 text of ``path``, or one UserError line for a missing, unreadable or non-text file."""
    if not path:
        raise UserError("no %s given (empty path)" % what)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise UserError("%s '%s' does not exist; check the path" % (what, path)) from None
    except IsADirectoryError:
        raise UserError("%s '%s' is a folder; pass the file" % (what, path)) from None
    except OSError as exc:
        raise UserError("cannot read %s '%s': %s" % (what, path, exc.strerror or exc)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError("%s '%s' is not UTF-8 text (byte 0x%02x at offset %d); pass a text file saved as UTF-8"
                        % (what, path, data[exc.start], exc.start)) from None


@contextmanager
def folder_lock(folder, what="output folder", name=LOCK_NAME):
    """Own ``folder`` (or, with another lock ``name``, one output in it) for the duration: one run at a time.

    The lock file holds ``<host> <pid>``; a lock of a process that is no longer running on this
    host is taken over with a note on stderr; a live one is a UserError naming its pid.
    """
    import sys

    path = os.path.join(folder, name)
    me = "%s %d\n" % (socket.gethostname(), os.getpid())
    for _ in range(3):
        if _publish_lock(path, me):
            break
        owner = _lock_owner(path)
        if owner is None:
            continue  # removed between our attempt and the read: try again
        host, pid = owner
        if host == socket.gethostname() and not _pid_alive(pid):
            print("note: taking over the lock of %s left by process %d, which is no longer running"
                  % (folder, pid), file=sys.stderr)
            _remove(path)
            continue
        raise UserError("%s '%s' is in use by process %d on %s (lock %s); wait for it, or choose another "
                        "output_path" % (what, folder, pid, host, path)) from None
    else:
        raise UserError("cannot take the lock %s; remove it if no run is using %s" % (path, folder))
    try:
        yield path
    finally:
        if _lock_owner(path) == (socket.gethostname(), os.getpid()):
            _remove(path)


def _publish_lock(path, content):
    """Create the lock file ``path`` holding ``content`` in one step, or return False if it exists.

    The content is written to a hidden temporary first and hard-linked onto ``path`` (atomic, and
    it fails on an existing name, symlinks included): a lock is never visible empty, so another
    process can never read a half-made lock as a dead owner's and take it over."""
    temporary = _temporary_name(path)
    _create_file(temporary, content)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: an exclusive create, then the content
        try:
            _create_file(path, content)
        except FileExistsError:
            return False
    finally:
        _remove(temporary)
    return True


def _create_file(path, content):
    """Write ``content`` to the new file ``path`` (FileExistsError if the name is taken)."""
    with os.fdopen(os.open(path, NEW_FILE_FLAGS, 0o644), "w") as handle:
        handle.write(content)


def _lock_owner(path):
    """(host, pid) written in a lock file, or None if it vanished; unreadable content counts as a dead owner."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return socket.gethostname(), 0
        with open(path, encoding="utf-8", errors="replace") as handle:
            fields = handle.read().split()
    except FileNotFoundError:
        return None
    if len(fields) == 2 and fields[1].isdigit():
        return fields[0], int(fields[1])
    return socket.gethostname(), 0
