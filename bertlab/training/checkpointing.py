"""Checkpoints of a run (model, optimizer, step) that survive a kill at any moment.

How a save is made safe (TensorFlow's own `CheckpointManager.save`, verified in
`tests/training/test_kill_and_resume.py`):
1. the variables are written under a temporary prefix
   (`ckpt-N_temp/part-*`), then merged and renamed to `ckpt-N.index` and
   `ckpt-N.data-*`;
2. only then is the `checkpoint` state file rewritten, atomically (temporary
   file + rename), to name `ckpt-N` as the latest.
A kill before step 2 leaves the state file naming the previous, complete
checkpoint; the files of the half-made `ckpt-N` are ignored and overwritten when
step N is saved again. Leftover `*_temp` folders are removed at start-up.

In a multi-worker run every worker must take part in a save (reading a
variable may need a collective); the chief writes into `model_dir`, the others
into a scratch folder removed right after. All workers restore from the
chief's latest checkpoint (a file system shared by the workers).
"""

import glob
import os
import shutil

import tensorflow as tf
from absl import logging

from bertlab.training import strategy as strategy_lib

CHECKPOINT_PREFIX = "ckpt"


class Checkpointer:
    """Saves and restores `model`, `optimizer` and the step counter.

    Args:
        model_dir: where the chief keeps its checkpoints.
        strategy: the run's `tf.distribute.Strategy`.
        max_to_keep: how many recent checkpoints the chief keeps.
        optional: `{name: trackable}` also saved, but a checkpoint written without
            them (by an earlier version) still restores, with a warning: the
            random-generator states of dropout layers (`Trainer`), added later.
        **objects: trackables to save (model=..., optimizer=..., step=...).

    Example:
        ckpt = Checkpointer(model_dir, strategy, 3, model=model, optimizer=opt, step=step)
        ckpt.restore_latest()   # -> path or None
        ckpt.save(int(step.numpy()))
    """

    def __init__(self, model_dir, strategy, max_to_keep, optional=None, **objects):
        self.model_dir = model_dir
        self.is_chief = strategy_lib.is_chief(strategy)
        self._required = objects
        self._optional = dict(optional or {})
        self.checkpoint = tf.train.Checkpoint(**objects, **self._optional)
        if self.is_chief:
            self.directory = model_dir
            tf.io.gfile.makedirs(model_dir)
            self._remove_orphans()
        else:
            self.directory = os.path.join(
                model_dir, "_worker_scratch", f"worker_{strategy_lib.worker_id(strategy)}")
        self._max_to_keep = max_to_keep
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.directory, max_to_keep=max_to_keep,
            checkpoint_name=CHECKPOINT_PREFIX)

    def _remove_orphans(self):
        """Removes the temporary folders a killed save may have left."""
        for path in glob.glob(os.path.join(self.model_dir, f"{CHECKPOINT_PREFIX}-*_temp*")):
            logging.info("Removing the leftover of an interrupted save: %s", path)
            shutil.rmtree(path, ignore_errors=True)

    def latest(self):
        """The chief's latest complete checkpoint (a prefix), or None."""
        return tf.train.latest_checkpoint(self.model_dir)

    def restore_latest(self):
        """Restores the latest checkpoint if there is one; returns its path or None."""
        path = self.latest()
        if path is None:
            return None
        status = self.checkpoint.restore(path)
        try:
            status.assert_existing_objects_matched()
        except AssertionError:
            if not self._optional:
                raise
            # Written before the optional objects were saved: the others must match.
            tf.train.Checkpoint(**self._required).restore(path).assert_existing_objects_matched()
            logging.warning("%s holds no %s (an earlier version wrote it): restored without.",
                            path, " or ".join(sorted(self._optional)))
        logging.info("Restored %s", path)
        return path

    def save(self, step):
        """Saves the current state as checkpoint number `step`; returns its path."""
        path = self.manager.save(checkpoint_number=step)
        if not self.is_chief:
            tf.io.gfile.rmtree(self.directory)
            try:
                os.rmdir(os.path.dirname(self.directory))  # only if no other worker's is there
            except OSError:
                pass
            # The manager remembers the removed files; a fresh one forgets them.
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, self.directory, max_to_keep=self._max_to_keep,
                checkpoint_name=CHECKPOINT_PREFIX)
        return path
