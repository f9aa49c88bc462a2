"""Writing outputs safely: directories and files replaced atomically with the umask's
permissions (`atomic_writes`), and the removal of what killed writers left (`leftovers`).

The lowest tier: every package that writes an output uses it."""

from bertlab.storage.atomic_writes import (OLD_PREFIX, TEMP_PREFIX, atomic_file, make_readable,
                                           readable_temporary_directory, replace_directory)

__all__ = ["OLD_PREFIX", "TEMP_PREFIX", "atomic_file", "make_readable",
           "readable_temporary_directory", "replace_directory"]
