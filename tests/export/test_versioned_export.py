"""Versioned, atomic export directories: versions increase, a failure leaves nothing."""

import os
import socket
import subprocess
import time

import pytest

from bertlab.export import (export_new_version, latest_version_dir, list_versions,
                            read_metadata, resolve_version_dir, write_metadata)
from bertlab.export.versioned_export import (OLD_PREFIX, TEMP_PREFIX, remove_export_leftovers,
                                            replace_directory)


def _write_model(path):
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(b"graph")
    os.makedirs(os.path.join(path, "variables"))


def test_versions_increase_and_ignore_other_entries(tmp_path):
    base = tmp_path / "sentiment"
    assert export_new_version(base, _write_model) == (1, str(base / "1"))
    assert export_new_version(base, _write_model)[0] == 2
    os.makedirs(base / "7")
    (base / "notes").mkdir()
    (base / "10.txt").write_text("x")
    version, path = export_new_version(base, _write_model)
    assert version == 8 and os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert list_versions(base) == [1, 2, 7, 8]
    assert latest_version_dir(base) == str(base / "8")
    assert sorted(os.listdir(base)) == ["1", "10.txt", "2", "7", "8", "notes"]  # no temp dirs
    # Readable by a server running as another user.
    assert os.stat(path).st_mode & 0o055 == os.stat(base).st_mode & 0o055


def test_failure_mid_export_leaves_no_version(tmp_path):
    base = tmp_path / "ner"
    export_new_version(base, _write_model)

    def broken(path):
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export_new_version(base, broken)
    assert os.listdir(base) == ["1"]
    assert export_new_version(base, _write_model)[0] == 2


def test_a_version_taken_meanwhile_is_not_replaced(tmp_path):
    base = tmp_path / "m"

    def racing(path):
        _write_model(path)
        os.makedirs(base / "1")  # another exporter finished version 1 meanwhile
        (base / "1" / "saved_model.pb").write_bytes(b"theirs")

    assert export_new_version(base, racing)[0] == 2
    assert (base / "1" / "saved_model.pb").read_bytes() == b"theirs"


def test_metadata_and_resolution(tmp_path):
    base = tmp_path / "m"
    _, path = export_new_version(base, lambda p: (_write_model(p), write_metadata(p, {"a": 1})))
    assert read_metadata(path) == {"a": 1}
    assert resolve_version_dir(base) == path
    assert resolve_version_dir(path) == path
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_version_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no SavedModel"):
        resolve_version_dir(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="not a bertlab export"):
        read_metadata(tmp_path / "empty")


def _dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_leftovers_of_killed_exports_are_cleaned_but_not_a_live_exporters(tmp_path):
    base = tmp_path / "sentiment"
    export_new_version(base, _write_model)
    host = socket.gethostname()
    dead = base / f"{TEMP_PREFIX}{_dead_pid()}@{host}@abc"
    live = base / f"{TEMP_PREFIX}{os.getpid()}@{host}@def"
    elsewhere = base / f"{TEMP_PREFIX}{_dead_pid()}@another-host@ghi"  # not ours to judge
    untagged_old = base / f"{TEMP_PREFIX}xyz"  # an earlier bertlab's name: judged by age
    for path in (dead, live, elsewhere, untagged_old):
        (path / "variables").mkdir(parents=True)
    week_ago = time.time() - 7 * 24 * 3600
    for path in (untagged_old, untagged_old / "variables"):
        os.utime(path, (week_ago, week_ago))

    assert remove_export_leftovers(base) == sorted([str(dead), str(untagged_old)])
    assert sorted(os.listdir(base)) == sorted(["1", live.name, elsewhere.name])


def test_a_replacement_killed_between_its_renames_is_undone(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "config.json").write_text("previous")
    # `replace_directory` moved the previous export aside, then died before its rename.
    aside = tmp_path / f"{OLD_PREFIX}{_dead_pid()}@{socket.gethostname()}@q"
    aside.mkdir()
    os.rename(target, aside / "export")
    assert remove_export_leftovers(tmp_path) == [str(aside)]
    assert (target / "config.json").read_text() == "previous" and not aside.exists()


def test_a_replaced_directory_is_readable_by_other_users(tmp_path):
    path = replace_directory(tmp_path / "export", lambda d: open(os.path.join(d, "f"), "w").close())
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o777 & ~umask
