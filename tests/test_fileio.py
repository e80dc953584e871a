"""src.fileio: atomic writes leave no final-looking partial file, checks give one line, locks own a folder."""
import os
import subprocess
import sys

import pytest

from src import fileio
from src.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _names(folder):
    return sorted(os.listdir(folder))


def test_atomic_write_renames_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    with fileio.atomic_write(str(target)) as handle:
        handle.write("{}")
        assert not target.exists()
        temporary = os.path.basename(handle.name)
        assert temporary.startswith(".out.json.") and temporary.endswith(".tmp")
    assert target.read_text() == "{}"
    with pytest.raises(KeyboardInterrupt):
        with fileio.atomic_write(str(target)) as handle:
            handle.write("partial")
            raise KeyboardInterrupt
    assert target.read_text() == "{}" and _names(tmp_path) == ["out.json"]


def test_atomic_path_keeps_suffix_hidden(tmp_path):
    target = tmp_path / "curve.png"
    with fileio.atomic_path(str(target), keep_suffix=True) as temporary:
        name = os.path.basename(temporary)
        assert name.startswith(".") and name.endswith(".tmp.png")
        with open(temporary, "wb") as handle:
            handle.write(b"png")
    assert _names(tmp_path) == ["curve.png"]


def test_atomic_path_refuses_planted_symlink(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    monkeypatch.setattr(fileio.secrets, "token_hex", lambda n: "fixed")
    planted = tmp_path / (".a.txt.%d.fixed.tmp" % os.getpid())
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        with fileio.atomic_write(str(tmp_path / "a.txt")) as handle:
            handle.write("evil")
    assert victim.read_text() == "keep"


def test_atomic_folder_replace_puts_new_in_before_old_goes(tmp_path):
    target = tmp_path / "set"
    target.mkdir()
    (target / "old").write_text("1")
    with pytest.raises(UserError, match="already exists"):
        with fileio.atomic_folder(str(target)) as temporary:
            pass
    with fileio.atomic_folder(str(target), replace=True) as temporary:
        (open(os.path.join(temporary, "new"), "w")).close()
        assert (target / "old").exists()
    assert _names(target) == ["new"] and _names(tmp_path) == ["set"]


def test_stale_temporaries_of_dead_processes_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / (".x.mindrecord.%d.abcd.tmp" % dead_pid)
    stale.mkdir()
    live = tmp_path / (".x.mindrecord.%d.abcd.tmp" % os.getpid())
    live.write_text("")
    (tmp_path / "x.mindrecord").write_text("")
    assert fileio.remove_stale_temporaries(str(tmp_path)) == [str(stale)]
    assert _names(tmp_path) == sorted([live.name, "x.mindrecord"])


@pytest.mark.parametrize("case, message", [
    ("empty", "--output_path is empty"),
    ("file", "is a file, not a folder"),
    ("under_file", "lies under"),
    ("read_only", "is not writable"),
])
def test_check_output_location_one_line(tmp_path, case, message):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    path = {"empty": "", "file": str(a_file), "under_file": str(a_file / "sub" / "x"),
            "read_only": str(read_only / "out")}[case]
    if case == "read_only" and os.access(str(read_only), os.W_OK):
        pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(UserError, match=message) as info:
        fileio.check_output_location(path, "folder", "--output_path")
    assert "\n" not in str(info.value)


def test_check_output_location_creates_and_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b"
    assert fileio.check_output_location(str(out)) == str(out)
    assert _names(tmp_path) == []
    out.mkdir(parents=True)
    with pytest.raises(UserError, match="is a folder, not a file"):
        fileio.check_output_location(str(out), "file", "--output")


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "is not UTF-8 text"),
    ("base_lr: 0.05 # caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
])
def test_read_text_messages(tmp_path, content, message):
    path = tmp_path / "cfg.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        fileio.read_text(str(path), "config file")


def test_read_text_utf8(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("name: caf\u00e9\n", encoding="utf-8")
    assert fileio.read_text(str(path)) == "name: caf\u00e9\n"


def test_folder_lock_live_and_stale(tmp_path, capsys):
    with fileio.folder_lock(str(tmp_path)) as lock:
        assert open(lock).read().split()[1] == str(os.getpid())
        with pytest.raises(UserError, match="in use by process %d" % os.getpid()):
            with fileio.folder_lock(str(tmp_path)):
                pass
    assert not (tmp_path / fileio.LOCK_NAME).exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket
    (tmp_path / fileio.LOCK_NAME).write_text("%s %s\n" % (socket.gethostname(), dead.stdout.strip()))
    with fileio.folder_lock(str(tmp_path)):
        pass
    assert "taking over the lock" in capsys.readouterr().err


CONTENDER = """
import os, sys, time
from src import fileio
from src.errors import UserError
folder, rounds = sys.argv[1], int(sys.argv[2])
taken = 0
while taken < rounds:
    try:
        with fileio.folder_lock(folder, name="contended.lock"):
            holder = os.path.join(folder, "holder")
            fd = os.open(holder, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another holds it too
            time.sleep(0.002)
            os.close(fd)
            os.remove(holder)
            taken += 1
    except UserError:
        time.sleep(0.001)
"""


def test_contending_processes_never_hold_a_lock_together(tmp_path):
    """A lock file is visible only with its owner written in it, so no process reads a lock
    another is still creating as a dead owner's and takes it over (which let two ranks copy the
    same ModelArts input)."""
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(tmp_path), "100"], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], errors
    assert not any("taking over" in err for err in errors), errors
    assert sorted(os.listdir(tmp_path)) == []
