"""Writing directories safely: atomic replacement with the umask's permissions
(`atomic_directory`) and removal of what killed writers left (`leftovers`).

The lowest tier: every package that writes an output directory uses it."""

from bertlab.storage.atomic_directory import (OLD_PREFIX, TEMP_PREFIX, make_readable,
                                              readable_temporary_directory,
                                              replace_directory)

__all__ = ["OLD_PREFIX", "TEMP_PREFIX", "make_readable", "readable_temporary_directory",
           "replace_directory"]
