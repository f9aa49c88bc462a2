"""Temporary directories that say who writes them, and removing those a killed writer left.

Saves and exports are written into a temporary directory and renamed into place
(`best.tmp-*` in a model directory, `.tmp-export-*` beside an export); a kill
before the rename leaves the temporary directory behind, for ever. A new run
removes them at start, but only the stale ones: another process may be writing
one right now (two apps exporting into the same base directory).

So a temporary name carries its writer: `<prefix><pid>@<host>@<rest>`. A
leftover is stale when
- its writer ran on this host and that process is gone; or
- its name carries no writer (older names), or a writer on another host (a
  shared file system), and nothing in it changed for `max_age_seconds` (a day by
  default: an export may sit quiet for minutes while TensorFlow traces it).
Assumption: two processes writing into the same directory with the same host
name share a process-ID namespace (true of separate machines, containers, pods;
not of two containers given the same host name).

Example:
>>> name = temporary_prefix("best.tmp-") + "1200"     # 'best.tmp-4711@node3@1200'
>>> remove_stale(model_dir, "best.tmp-")               # -> the paths removed
"""

import os
import shutil
import socket
import time

from absl import logging

DEFAULT_MAX_AGE_SECONDS = 24 * 3600


def _host():
    return socket.gethostname().replace("@", "_").replace("/", "_") or "localhost"


def temporary_prefix(prefix):
    """`prefix` followed by this process's tag: `<prefix><pid>@<host>@`."""
    return f"{prefix}{os.getpid()}@{_host()}@"


def writer_of(name, prefix):
    """`(pid, host)` of a temporary name made with `temporary_prefix(prefix)`, else None."""
    if not name.startswith(prefix):
        return None
    parts = name[len(prefix):].split("@", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1]:
        return None
    return int(parts[0]), parts[1]


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _last_change(path):
    """The newest modification time of `path` and everything under it."""
    latest = os.lstat(path).st_mtime
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                latest = max(latest, os.lstat(os.path.join(root, name)).st_mtime)
            except OSError:
                pass
    return latest


def is_stale(path, prefix, max_age_seconds=DEFAULT_MAX_AGE_SECONDS, now=None):
    """Whether the temporary directory `path` (named `<prefix>...`) was left by a
    writer that is gone (see the module docstring)."""
    writer = writer_of(os.path.basename(path), prefix)
    if writer is not None and writer[1] == _host():
        return not _process_alive(writer[0])
    now = time.time() if now is None else now
    return now - _last_change(path) > max_age_seconds


def stale_leftovers(directory, prefix, max_age_seconds=DEFAULT_MAX_AGE_SECONDS):
    """The stale `<prefix>*` directories in `directory`, sorted (none if it is missing)."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if (name.startswith(prefix) and os.path.isdir(path) and not os.path.islink(path)
                and is_stale(path, prefix, max_age_seconds)):
            found.append(path)
    return found


def remove_stale(directory, prefix, max_age_seconds=DEFAULT_MAX_AGE_SECONDS):
    """Removes the stale `<prefix>*` directories in `directory`; returns their paths."""
    removed = stale_leftovers(directory, prefix, max_age_seconds)
    for path in removed:
        logging.info("Removing the leftover of an interrupted save: %s", path)
        shutil.rmtree(path, ignore_errors=True)
    return removed
