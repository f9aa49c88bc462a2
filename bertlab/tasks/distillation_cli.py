"""The command line of the distillation scripts (`apps.classify.distill`, `apps.ner.distill`):
the fine-tuning flags and `--teacher`, then the one driver.

Example (an app's `distill.py`):
    define_flags("classify", REPO_ROOT, "distill_sst2.yaml")
    run_distillation_app(argv, "distill", DistillConfig, ClassificationDistillationTask,
                         REPO_ROOT)
"""

import os

from absl import flags

from bertlab.tasks import fine_tuning_cli

FLAGS = flags.FLAGS


def define_flags(config_dir, repo_root, default_config):
    """The fine-tuning flags (`bertlab.tasks.fine_tuning_cli`) and `--teacher`; `--config`
    defaults to `configs/<config_dir>/<default_config>`."""
    fine_tuning_cli.define_flags(config_dir, repo_root, default_config)
    flags.DEFINE_string("teacher", None, "The teacher export (a version directory, or a base "
                        "directory: its latest version); overrides task.distillation.teacher.")


def run_distillation_app(argv, app_name, config_cls, task_cls, repo_root):
    """Distils and exports; bad input (a missing teacher, a teacher of other classes, a
    malformed config) is one `error: ...` line and exit status 1. A config's relative
    teacher path is relative to the repository, `--teacher`'s to the working directory."""
    overrides = {"task.distillation.teacher": os.path.abspath(FLAGS.teacher)} \
        if FLAGS.teacher else {}

    def resolve_teacher_path(config):
        distillation = config.task.distillation
        if not os.path.isabs(distillation.teacher):
            distillation.teacher = os.path.join(repo_root, distillation.teacher)

    fine_tuning_cli.run_main(
        argv, lambda: fine_tuning_cli.run_training_app(
            app_name, config_cls, task_cls, repo_root, overrides=overrides,
            prepare_config=resolve_teacher_path),
        errors=(*fine_tuning_cli.TRAIN_ERRORS, ValueError))
