"""Distils a trained classifier into a smaller one and exports it as a versioned SavedModel.

    python -m apps.classify.distill --teacher=saved_models/sentiment
        [--config=configs/classify/distill_sst2.yaml] [--export_dir=saved_models/sentiment_3l]
        [--model_dir=runs/...] [--set task.distillation.student_layers=2 ...]
        (and every flag of `apps.classify.train`)

The teacher is a classifier export (a version directory, or a base directory: its
latest version). The student (by default its own layers 1, 3, 5 of 6; see
`bertlab.tasks.distillation`) learns from the labels and the teacher's soft
targets, is chosen on the config's validation split, scored once on its report
split, and exported with the same contract as any classifier (`serving_default`
raw text -> `label`, `probabilities`; `serve_token_ids`).
"""

import os
import sys

from absl import app, flags

from apps.classify.config import REPO_ROOT, DistillConfig
from bertlab.tasks import fine_tuning_cli
from bertlab.tasks.distillation import ClassificationDistillationTask

APP_NAME = "distill"

flags.DEFINE_string("teacher", None, "The teacher: a classifier export (version directory, or "
                    "base directory: its latest version); overrides "
                    "task.distillation.teacher.")
FLAGS = flags.FLAGS


def resolve_teacher_path(config):
    """A config's relative teacher path is relative to the repository (a flag's is
    already absolute)."""
    distillation = config.task.distillation
    if not os.path.isabs(distillation.teacher):
        distillation.teacher = os.path.join(REPO_ROOT, distillation.teacher)


def run(argv):
    """Distils and exports; bad input (a missing teacher, a teacher of other classes, a
    malformed config) is one `error: ...` line and exit status 1."""
    overrides = {"task.distillation.teacher": os.path.abspath(FLAGS.teacher)} \
        if FLAGS.teacher else {}
    fine_tuning_cli.run_main(
        argv, lambda: fine_tuning_cli.run_training_app(
            APP_NAME, DistillConfig, ClassificationDistillationTask, REPO_ROOT,
            overrides=overrides, prepare_config=resolve_teacher_path),
        errors=(*fine_tuning_cli.TRAIN_ERRORS, ValueError))


if __name__ == "__main__":
    fine_tuning_cli.define_flags(APP_NAME, REPO_ROOT, "distill_sst2.yaml")
    app.run(run, argv=fine_tuning_cli.normalize_argv(sys.argv))
