"""`replace_directory` writes a directory completely or not at all, refuses to replace a
directory that is not an earlier output, and leaves what it writes readable under the umask."""

import os
import stat

import pytest

from bertlab.storage import make_readable, readable_temporary_directory, replace_directory


def _write(name, text):
    def write(directory):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
    return write


def test_replaces_an_earlier_output_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "out"
    assert replace_directory(target, _write("model.safetensors", "one")) == str(target)
    replace_directory(target, _write("model.safetensors", "two"),
                      replaceable=("model.safetensors",))
    assert os.listdir(target) == ["model.safetensors"]
    assert (target / "model.safetensors").read_text() == "two"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_failing_writer_keeps_the_previous_content(tmp_path):
    target = tmp_path / "out"
    replace_directory(target, _write("model.safetensors", "one"))

    def fail(directory):
        _write("model.safetensors", "half")(directory)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_directory(target, fail)
    assert (target / "model.safetensors").read_text() == "one"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_directory_that_is_not_an_earlier_output_is_not_replaced(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds none of model.safetensors"):
        replace_directory(home, _write("model.safetensors", "x"),
                          replaceable=("model.safetensors",))
    assert os.listdir(home) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    replace_directory(empty, _write("model.safetensors", "x"), replaceable=("model.safetensors",))
    assert os.listdir(empty) == ["model.safetensors"]


def test_what_is_written_gets_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        tmp = readable_temporary_directory(str(tmp_path))
        assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o755   # mkdtemp alone: 0o700
        private = tmp_path / "weights"
        private.write_text("w")
        os.chmod(private, 0o600)
        make_readable(private)
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o644
        target = replace_directory(tmp_path / "out", _write("f", "x"))
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o755
    finally:
        os.umask(old)


def test_atomic_file_replaces_the_file_or_leaves_it(tmp_path):
    import numpy as np

    from bertlab.storage import atomic_file

    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(ValueError):
        with atomic_file(target) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write("half")
            raise ValueError("interrupted")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["summary.json"]
    with atomic_file(target) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["summary.json"]
    with atomic_file(tmp_path / "logits.npy") as tmp:   # np.save keeps a .npy name as it is
        np.save(tmp, np.arange(3))
    assert np.load(tmp_path / "logits.npy").tolist() == [0, 1, 2]
    assert sorted(os.listdir(tmp_path)) == ["logits.npy", "summary.json"]
