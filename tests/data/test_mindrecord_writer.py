"""MindRecord conversion: exact round trip, sharding, clear errors, nothing left behind on failure."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import cv2
import mindspore.dataset as ds
import numpy as np
import pytest

from src.data import mindrecord_writer
from src.data.cityscapes import find_samples
from src.data.labels import ID_TO_TRAIN_ID
from src.data.mindrecord_writer import build_mindrecord, find_mindrecord
from src.data.synthetic import generate
from src.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _png(column):
    """Decode a bytes column as the iterator returns it (a numpy bytes scalar)."""
    return cv2.imdecode(np.frombuffer(column.tobytes(), np.uint8), cv2.IMREAD_UNCHANGED)


def _rows(path):
    data = ds.MindDataset(path, columns_list=["image", "label", "file_name", "height", "width"], shuffle=False)
    return list(data.create_dict_iterator(output_numpy=True, num_epochs=1))


@pytest.fixture()
def tree(demo_cityscapes_root, tmp_path):
    """A private copy of the demo tree to break."""
    root = tmp_path / "cityscapes"
    shutil.copytree(demo_cityscapes_root, root)
    return root


def test_round_trip_gives_source_pixels_and_train_ids(demo_cityscapes_root, demo_mindrecord_dir):
    for split in ("train", "val"):
        samples = find_samples(str(demo_cityscapes_root), split)
        rows = _rows(find_mindrecord(str(demo_mindrecord_dir), split))
        assert [str(r["file_name"]) for r in rows] == [s.name for s in samples]
        for row, sample in zip(rows, samples):
            image = _png(row["image"])
            np.testing.assert_array_equal(image, cv2.imread(sample.image_path))
            label = _png(row["label"])
            np.testing.assert_array_equal(label, ID_TO_TRAIN_ID[cv2.imread(sample.label_path, cv2.IMREAD_UNCHANGED)])
            assert (int(row["height"]), int(row["width"])) == image.shape[:2]
        labels = np.concatenate([_png(r["label"]).ravel() for r in rows])
        assert 255 in labels and labels[labels != 255].max() <= 18


def test_shards_keep_all_rows_in_order(demo_cityscapes_root, tmp_path):
    files = build_mindrecord(str(demo_cityscapes_root), str(tmp_path), "train", num_shards=3, num_workers=2,
                             progress=False)
    assert [os.path.basename(f) for f in files] == [f"cityscapes_train.mindrecord{i}" for i in range(3)]
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(f) + e for f in files for e in ("", ".db"))
    assert find_mindrecord(str(tmp_path), "train") == files[0]
    names = sorted(str(r["file_name"]) for r in _rows(files[0]))
    assert names == [s.name for s in find_samples(str(demo_cityscapes_root), "train")]


def test_existing_output_needs_overwrite_and_is_replaced_whole(demo_cityscapes_root, tmp_path):
    build_mindrecord(str(demo_cityscapes_root), str(tmp_path), "val", num_shards=2, num_workers=1, progress=False)
    with pytest.raises(UserError, match=r"cityscapes_val\.mindrecord0' already exists: pass --overwrite"):
        build_mindrecord(str(demo_cityscapes_root), str(tmp_path), "val", num_workers=1, progress=False)
    build_mindrecord(str(demo_cityscapes_root), str(tmp_path), "val", num_workers=1, overwrite=True, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["cityscapes_val.mindrecord", "cityscapes_val.mindrecord.db"]
    assert len(_rows(find_mindrecord(str(tmp_path), "val"))) == 3


@pytest.mark.parametrize("breakage, message", [
    ("no_root", r"Cityscapes root '.*missing' does not exist"),
    ("no_split", r"split 'val' not found: '.*leftImg8bit/val' does not exist"),
    ("empty_split", r"split 'val' is empty: no \*_leftImg8bit.png files"),
    ("no_label", r"image '.*frankfurt_000000_000000_leftImg8bit.png' has no label: expected "
                 r"'.*frankfurt_000000_000000_gtFine_labelIds.png'"),
    ("truncated", r"'.*lindau_000000_000001_leftImg8bit.png' is a truncated PNG"),
    ("no_iend", r"'.*lindau_000000_000001_gtFine_labelIds.png' is a truncated PNG \(ends before its IEND"),
    ("corrupt", r"'.*lindau_000000_000001_leftImg8bit.png' is a corrupt PNG \(CRC error"),
    ("not_png", r"'.*lindau_000000_000001_leftImg8bit.png' is not a PNG file"),
    ("size_mismatch", r"size mismatch: image '.*frankfurt_000000_000000_leftImg8bit.png' is 128x64 but label "
                      r"'.*frankfurt_000000_000000_gtFine_labelIds.png' is 64x32"),
    ("colour_label", r"'.*frankfurt_000000_000000_gtFine_labelIds.png' must be a single-channel 8-bit labelIds"),
])
def test_bad_input_messages_and_nothing_written(tree, tmp_path, breakage, message):
    val = tree / "leftImg8bit" / "val"
    image = val / "lindau" / "lindau_000000_000001_leftImg8bit.png"
    label = tree / "gtFine" / "val" / "lindau" / "lindau_000000_000001_gtFine_labelIds.png"
    first_label = tree / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000000_gtFine_labelIds.png"
    root = tree
    if breakage == "no_root":
        root = tmp_path / "missing"
    elif breakage == "no_split":
        shutil.rmtree(val)
    elif breakage == "empty_split":
        for png in val.glob("*/*.png"):
            png.unlink()
    elif breakage == "no_label":
        first_label.unlink()
    elif breakage == "truncated":
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    elif breakage == "no_iend":
        label.write_bytes(label.read_bytes()[:-12])
    elif breakage == "corrupt":
        data = bytearray(image.read_bytes())
        data[len(data) // 2] ^= 0xFF
        image.write_bytes(bytes(data))
    elif breakage == "not_png":
        image.write_bytes(b"GIF89a" + b"\0" * 64)
    elif breakage == "size_mismatch":
        cv2.imwrite(str(first_label), np.full((32, 64), 7, np.uint8))
    elif breakage == "colour_label":
        cv2.imwrite(str(first_label), np.full((64, 128, 3), 7, np.uint8))
    out = tmp_path / "out"
    with pytest.raises(UserError, match=message):
        build_mindrecord(str(root), str(out), "val", num_workers=2 if breakage == "truncated" else 1,
                         progress=False)
    assert not out.exists() or os.listdir(out) == []


def test_unwritable_output_dir(demo_cityscapes_root, tmp_path):
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    target = readonly if not os.access(readonly, os.W_OK) else "/proc/self"  # root ignores the mode
    with pytest.raises(UserError, match=r"--output_path '.*' is not writable .*pass --output_path with a writable folder"):
        build_mindrecord(str(demo_cityscapes_root), str(target), "val", num_workers=1, progress=False)


def test_output_dir_under_a_file(demo_cityscapes_root, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=r"--output_path '.*file/sub' lies under '.*file', which is a file"):
        build_mindrecord(str(demo_cityscapes_root), str(tmp_path / "file" / "sub"), "val", num_workers=1,
                         progress=False)


def test_interrupt_mid_conversion_leaves_nothing(demo_cityscapes_root, tmp_path, monkeypatch):
    calls = []
    real_encode = mindrecord_writer.encode_sample

    def encode_then_interrupt(sample):
        calls.append(sample)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_encode(sample)

    monkeypatch.setattr(mindrecord_writer, "WRITE_BATCH", 1)
    monkeypatch.setattr(mindrecord_writer, "encode_sample", encode_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_mindrecord(str(demo_cityscapes_root), str(tmp_path), "train", num_shards=2, num_workers=1,
                         progress=False)
    assert len(calls) == 3
    assert os.listdir(tmp_path) == []


# The first write_raw_data call announces itself and then blocks: when the test sees the line the
# conversion has provably started (images decoded, a batch being written) and cannot finish, so the
# signal always lands mid-conversion, whatever the machine's speed.
BLOCKED_CONVERT = textwrap.dedent("""
    import sys, time
    import src
    from mindspore.mindrecord import FileWriter
    def blocked_write(self, rows, *args, **kwargs):
        print("WRITING", flush=True)
        time.sleep(600)
    FileWriter.write_raw_data = blocked_write
    import build_mindrecord
    from src.errors import run_main
    run_main(build_mindrecord.main, sys.argv[1:])
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_real_signal_mid_conversion_leaves_nothing(tmp_path, signum):
    root, out = tmp_path / "tree", tmp_path / "out"
    generate(str(root), 24, 0, 32, 64, seed=1)
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", BLOCKED_CONVERT, "--data_path", str(root), "--output_path",
                             str(out), "--split", "train", "--num_workers", "2"],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the first batch is being written (or the process ends)
        assert line.strip() == "WRITING", proc.communicate(timeout=60)[1]
        assert os.listdir(out), "the conversion writes into a hidden partial folder of the output"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    assert "interrupted by %s; no MindRecord written" % signal.Signals(signum).name in err
    assert os.listdir(out) == []


def test_find_mindrecord_errors(tmp_path):
    with pytest.raises(UserError, match=r"MindRecord directory '.*nowhere' does not exist; run: python "
                                        r"build_mindrecord.py"):
        find_mindrecord(str(tmp_path / "nowhere"), "train")
    with pytest.raises(UserError, match=r"no MindRecord for split 'val' in .*cityscapes_val.mindrecord"):
        find_mindrecord(str(tmp_path), "val")
    (tmp_path / "cityscapes_val.mindrecord").write_bytes(b"")
    with pytest.raises(UserError, match="is incomplete .*lacks its index.*is empty"):
        find_mindrecord(str(tmp_path), "val")


def test_cli_prints_error_and_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "build_mindrecord.py", "--data_path", str(tmp_path / "none"),
                           "--output_path", str(tmp_path / "out"), "--split", "train"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: Cityscapes root")
    assert "Traceback" not in proc.stderr


KILLED_BUILD = textwrap.dedent("""
    import sys
    import src
    import build_mindrecord
    from src.errors import run_main
    run_main(build_mindrecord.main, sys.argv[1:])
""")


def _build_killed_at(root, out, point, *extra):
    """build_mindrecord.py SIGKILLed at a chosen point (src.fileio.kill_point), not at a guessed time."""
    proc = subprocess.run([sys.executable, "-c", KILLED_BUILD, "--data_path", str(root), "--output_path", str(out),
                           "--split", "train", "--num_workers", "1", *extra],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": REPO, "AUTODEEPLAB_TEST_KILL_AT": point},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.mark.parametrize("moved", [1, 2, 3])
def test_build_killed_between_renames_is_refused_then_cleaned(demo_cityscapes_root, tmp_path, moved):
    """Shards move in data files first: every cut leaves a set find_mindrecord refuses, and the next build
    removes the killed run's hidden leftovers."""
    out = tmp_path / "out"
    _build_killed_at(demo_cityscapes_root, out, "replace_files:%d" % moved, "--num_shards", "2")
    visible = sorted(f for f in os.listdir(out) if not f.startswith("."))
    assert len(visible) == moved
    assert sum(f.endswith(".db") for f in visible) == max(0, moved - 2)  # both shards before any index
    with pytest.raises(UserError, match="is incomplete.*rebuild it with --overwrite"):
        find_mindrecord(str(out), "train")
    assert any(f.endswith(".tmp") for f in os.listdir(out))  # the killed run's hidden folder and lock remain
    build_mindrecord(str(demo_cityscapes_root), str(out), "train", num_shards=2, num_workers=1, overwrite=True,
                     progress=False)
    assert sorted(os.listdir(out)) == sorted("cityscapes_train.mindrecord%d%s" % (i, e) for i in (0, 1)
                                             for e in ("", ".db"))
    assert len(_rows(find_mindrecord(str(out), "train"))) == 6


def test_overwrite_killed_midway_keeps_no_mixed_set(demo_cityscapes_root, tmp_path):
    """--overwrite moves the old set aside before the new one comes in: a kill there never mixes the two."""
    out = tmp_path / "out"
    build_mindrecord(str(demo_cityscapes_root), str(out), "train", num_shards=3, num_workers=1, progress=False)
    _build_killed_at(demo_cityscapes_root, out, "replace_files:3", "--num_shards", "2", "--overwrite")
    with pytest.raises(UserError, match="is incomplete"):
        find_mindrecord(str(out), "train")
    assert "cityscapes_train.mindrecord2" not in os.listdir(out)


def test_find_mindrecord_refuses_index_without_shard(tmp_path):
    for name in ("cityscapes_train.mindrecord0", "cityscapes_train.mindrecord0.db", "cityscapes_train.mindrecord1.db"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(UserError, match="'cityscapes_train.mindrecord1' is missing"):
        find_mindrecord(str(tmp_path), "train")


def test_second_build_into_the_same_folder_is_refused(demo_cityscapes_root, tmp_path):
    from src.fileio import folder_lock

    with folder_lock(str(tmp_path), name=".cityscapes_val.mindrecord.lock"):
        with pytest.raises(UserError, match="in use by process %d" % os.getpid()):
            build_mindrecord(str(demo_cityscapes_root), str(tmp_path), "val", num_workers=1, progress=False)
    assert not [f for f in os.listdir(tmp_path) if not f.startswith(".")]
