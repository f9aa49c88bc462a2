"""Temporary directories named after their writer: only those of a writer that is gone
(or, without a writer on this host, long quiet) count as leftovers."""

import os
import socket
import subprocess
import time

from bertlab.storage.leftovers import (is_stale, remove_stale, temporary_prefix,
                                        writer_of)


def _dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_name_carries_its_writer():
    prefix = temporary_prefix("best.tmp-")
    assert prefix == f"best.tmp-{os.getpid()}@{socket.gethostname()}@"
    assert writer_of(prefix + "1200", "best.tmp-") == (os.getpid(), socket.gethostname())
    assert writer_of("best.tmp-1200", "best.tmp-") is None  # an earlier bertlab's name
    assert writer_of("best.old", "best.tmp-") is None


def test_only_stale_leftovers_are_removed(tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f"best.tmp-{_dead_pid()}@{host}@5"
    mine = tmp_path / f"best.tmp-{os.getpid()}@{host}@6"
    remote = tmp_path / f"best.tmp-{_dead_pid()}@elsewhere@7"
    quiet = tmp_path / "best.tmp-8"
    other = tmp_path / "best"
    for path in (dead, mine, remote, quiet, other):
        path.mkdir()
    (quiet / "model.index").write_text("x")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (quiet, quiet / "model.index"):
        os.utime(path, (two_days_ago, two_days_ago))
    # A file written a moment ago deep inside keeps a directory fresh.
    (remote / "sub").mkdir()
    os.utime(remote, (two_days_ago, two_days_ago))
    assert not is_stale(str(remote), "best.tmp-")

    assert remove_stale(str(tmp_path), "best.tmp-") == sorted([str(dead), str(quiet)])
    assert sorted(os.listdir(tmp_path)) == sorted([mine.name, remote.name, other.name])
    assert remove_stale(str(tmp_path / "missing"), "best.tmp-") == []
