"""Versioned, atomic SavedModel directories in TF Serving's layout.

TF Serving watches a base directory (`saved_models/sentiment/`) and serves the
highest integer-named version in it (`1/`, `2/`, ...). A version must appear
complete or not at all: a server that loads a half-written SavedModel fails or,
worse, serves garbage. So every export is written into a temporary sibling
directory (`.tmp-export-*`, ignored by TF Serving because it is not an integer)
and renamed into place in one `rename` system call; if anything fails before
the rename, the temporary directory is removed and no version appears.

A kill before the rename leaves the temporary directory: its name carries the
writer's process and host (`.tmp-export-<pid>@<host>@...`), so that
`remove_export_leftovers`, run when the next job starts, removes only those
whose writer is gone and never a concurrent exporter's (see
`bertlab.storage.leftovers`).

Example:
>>> version, path = export_new_version("saved_models/sentiment", write_fn)
>>> path
'saved_models/sentiment/3'
"""

import errno
import json
import os
import re
import shutil

from absl import logging

from bertlab import storage
from bertlab.storage import OLD_PREFIX, TEMP_PREFIX
from bertlab.storage.leftovers import DEFAULT_MAX_AGE_SECONDS, stale_leftovers, writer_of

METADATA_DIR = "assets.extra"
METADATA_FILE = "bertlab_export.json"
_VERSION = re.compile(r"^[0-9]+$")


def list_versions(base_dir):
    """The integer versions present in `base_dir`, sorted (empty if it does not exist)."""
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(name) for name in os.listdir(base_dir)
                  if _VERSION.match(name) and os.path.isdir(os.path.join(base_dir, name)))


def latest_version_dir(base_dir):
    """The path of the highest version in `base_dir`, or None."""
    versions = list_versions(base_dir)
    return os.path.join(base_dir, str(versions[-1])) if versions else None


def export_new_version(base_dir, write_fn, max_attempts=100):
    """Writes a new version directory with `write_fn`, atomically.

    Args:
      base_dir: the model's base directory (created if missing).
      write_fn: called with an empty temporary directory (a sibling of the
        versions) and writes the whole SavedModel into it.
      max_attempts: how many version numbers to try when other exporters
        take the next one at the same time.

    Returns:
      `(version, path)` of the new version: one more than the highest present.

    Raises:
      Whatever `write_fn` raises; no version directory is left behind and the
      temporary directory is removed.
    """
    base_dir = os.fspath(base_dir)
    os.makedirs(base_dir, exist_ok=True)
    tmp = storage.readable_temporary_directory(base_dir)
    try:
        write_fn(tmp)
        version = 0
        for _ in range(max_attempts):
            version = max([version] + list_versions(base_dir)) + 1
            path = os.path.join(base_dir, str(version))
            try:
                # Linux `rename` onto a non-empty directory fails: a concurrent
                # exporter's version is never replaced; try the next number.
                if os.path.exists(path):
                    continue
                os.rename(tmp, path)
                return version, path
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        raise RuntimeError(f"Could not claim a new version in {base_dir} after "
                           f"{max_attempts} attempts.")
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def replace_directory(path, write_fn):
    """Writes the export `path` with `write_fn`, atomically
    (`bertlab.storage.replace_directory`): a failure leaves the previous content in
    place. Returns `path`.

    Raises:
      FileExistsError: `path` is a non-empty directory that is not an export
        (no `assets.extra/bertlab_export.json`, no `model.safetensors` of an
        earlier encoder export): it is not replaced.
    """
    return storage.replace_directory(
        path, write_fn, replaceable=(os.path.join(METADATA_DIR, METADATA_FILE),
                                     "model.safetensors"))


def _recover_or_remove_old(old_dir):
    """A stale `OLD_PREFIX` leftover holds the content a replacement moved aside:
    puts it back if the replacement never arrived, else removes it. Returns a word
    for the log."""
    parent = os.path.dirname(old_dir)
    entries = os.listdir(old_dir)
    if len(entries) == 1 and not os.path.exists(os.path.join(parent, entries[0])):
        os.rename(os.path.join(old_dir, entries[0]), os.path.join(parent, entries[0]))
        os.rmdir(old_dir)
        return "restored"
    shutil.rmtree(old_dir, ignore_errors=True)
    return "removed"


def remove_export_leftovers(directory, max_age_seconds=DEFAULT_MAX_AGE_SECONDS):
    """Cleans `directory` (a versions base directory, or the parent of a replaced
    export) of the `.tmp-export-*` directories that killed exporters left.

    Only stale ones (`bertlab.storage.leftovers.is_stale`): a concurrent
    exporter's are kept. The previous content of a replaced export that a kill
    left moved aside (between the two renames of `replace_directory`) is put
    back where it was; untagged `.tmp-export-old-*` directories of older
    versions are left alone (what they held is unknown).

    Returns:
      The paths removed or restored, sorted.
    """
    directory = os.fspath(directory)
    done = []
    for path in stale_leftovers(directory, OLD_PREFIX, max_age_seconds):
        if writer_of(os.path.basename(path), OLD_PREFIX) is not None:
            logging.info("Leftover of an interrupted export %s: %s",
                         _recover_or_remove_old(path), path)
            done.append(path)
    for path in stale_leftovers(directory, TEMP_PREFIX, max_age_seconds):
        if not os.path.basename(path).startswith(OLD_PREFIX):
            logging.info("Removing the leftover of an interrupted export: %s", path)
            shutil.rmtree(path, ignore_errors=True)
            done.append(path)
    return sorted(done)


def write_metadata(saved_model_dir, metadata):
    """Writes `assets.extra/bertlab_export.json` (what the export is, for clients)."""
    directory = os.path.join(saved_model_dir, METADATA_DIR)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
        f.write("\n")


def read_metadata(saved_model_dir):
    """Reads what `write_metadata` wrote; a clear error if it is missing."""
    path = os.path.join(saved_model_dir, METADATA_DIR, METADATA_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{saved_model_dir} is not a bertlab export (no {METADATA_DIR}/{METADATA_FILE}).")
    with open(path, encoding="utf-8") as f:
        return json.load(f)
