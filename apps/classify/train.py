"""Fine-tunes a text classifier and exports it as a versioned SavedModel.

    python -m apps.classify.train [--config=configs/classify/ag_news.yaml]
        [--data_dir=DIR] [--init=minilm|DIR|none] [--export_dir=saved_models/ag_news]
        [--model_dir=runs/...] [--strategy=default|mirrored|multi_worker]
        [--mixed_precision] [--set task.sequence_length=64 ...]

Chooses the best checkpoint on the validation split (carved from the training
data where the config says so), scores the config's report split once with it,
exports it to `<export_dir>/<version>/` and writes `<model_dir>/summary.json`.
"""

import sys

from absl import app

from apps.classify.config import APP_NAME, DEFAULT_CONFIG, REPO_ROOT, ClassifyConfig
from bertlab.tasks import fine_tuning_cli
from bertlab.tasks.text_classification import TextClassificationTask


def define_flags(app_name=APP_NAME, default_config=DEFAULT_CONFIG):
    """The train flags; `--config` defaults to `configs/<app_name>/<default_config>`."""
    fine_tuning_cli.define_flags(app_name, REPO_ROOT, default_config)


def run(argv, app_name=APP_NAME):
    """Trains and exports; bad input (a missing file, a malformed config or data) is one
    `error: ...` line and exit status 1."""
    fine_tuning_cli.run_main(argv, lambda: fine_tuning_cli.run_training_app(
        app_name, ClassifyConfig, TextClassificationTask, REPO_ROOT))


if __name__ == "__main__":
    define_flags()
    app.run(run, argv=fine_tuning_cli.normalize_argv(sys.argv))
