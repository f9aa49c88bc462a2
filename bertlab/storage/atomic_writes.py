"""Directories and files that appear complete or not at all, readable as the umask allows.

Every writer of a directory that something else reads (an export a server loads, a
checkpoint an app fine-tunes from, a release) writes into a temporary sibling and
renames it into place in one `rename` system call. A directory being replaced is first
moved aside under a name that says who moved it (`<OLD_PREFIX><pid>@<host>@.../<name>`),
so that a kill between the two renames can be undone by the next job
(`bertlab.export.versioned_export.remove_export_leftovers`).

`mkdtemp` makes a private directory (0700) and safetensors a private file (0600): a
server or user running as someone else could not read what becomes the export, so both
get the umask's permissions here.

Example:
>>> replace_directory("exports/encoder", lambda tmp: write_checkpoint(tmp),
...                   replaceable=("model.safetensors",))
'/abs/exports/encoder'
"""

import contextlib
import os
import shutil
import tempfile
import threading

from bertlab.storage.leftovers import temporary_prefix

# Temporary siblings of a directory being written, and of the one it replaces.
TEMP_PREFIX = ".tmp-export-"
OLD_PREFIX = TEMP_PREFIX + "old-"


def current_umask():
    """The process's umask (read by setting it and setting it back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def make_readable(path):
    """Gives the file `path` the permissions a newly created file gets under the umask."""
    os.chmod(path, 0o666 & ~current_umask())


def readable_temporary_directory(parent, prefix=TEMP_PREFIX):
    """A new, empty directory in `parent` named `<prefix><pid>@<host>@...`, with the
    umask's permissions."""
    tmp = tempfile.mkdtemp(prefix=temporary_prefix(prefix), dir=parent)
    os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


def replace_directory(path, write_fn, replaceable=()):
    """Writes the directory `path` with `write_fn`, atomically.

    Args:
      path: the directory to write; a previous one is replaced.
      write_fn: called with an empty temporary sibling of `path`; writes the whole
        content into it.
      replaceable: file names (relative paths) of which an existing non-empty `path`
        must hold one to be replaced: a guard against replacing a directory that is
        not an earlier output (a home directory given by mistake). Empty: anything is.

    Returns:
      `path`, absolute.

    Raises:
      FileExistsError: `path` is a non-empty directory holding none of `replaceable`;
        nothing is written.
      Whatever `write_fn` raises: the previous content stays, no temporary is left.
    """
    path = os.path.abspath(os.fspath(path))
    if (replaceable and os.path.isdir(path) and os.listdir(path)
            and not any(os.path.isfile(os.path.join(path, name)) for name in replaceable)):
        raise FileExistsError(
            f"{path} is a non-empty directory that holds none of {', '.join(replaceable)}: "
            "it is not an earlier output and is not replaced. Write elsewhere or remove it.")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = readable_temporary_directory(parent)
    old = None
    try:
        write_fn(tmp)
        if os.path.lexists(path):
            # Kept under the replaced directory's own name, so that a kill before
            # the next rename can be undone.
            old = tempfile.mkdtemp(prefix=temporary_prefix(OLD_PREFIX), dir=parent)
            os.rename(path, os.path.join(old, os.path.basename(path)))
        try:
            os.rename(tmp, path)
        except OSError:
            if old is not None:  # put the previous content back
                os.rename(os.path.join(old, os.path.basename(path)), path)
            raise
        return path
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path):
    """Yields a temporary path beside the file `path` to write; it is renamed onto
    `path` when the block ends without an error and removed otherwise, so `path`
    holds the old content or the new, never a part. The temporary name keeps the
    extension (`np.save` appends `.npy` to a path without it). Files created under it
    with `open` get the umask's permissions.

    Example:
    >>> with atomic_file("run/summary.json") as tmp:
    ...     with open(tmp, "w") as f:
    ...         json.dump(summary, f)
    """
    path = os.fspath(path)
    root, extension = os.path.splitext(path)
    tmp = f"{root}.tmp-{os.getpid()}-{threading.get_ident()}{extension}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
