"""Fine-tunes a sentiment classifier and exports it as a versioned SavedModel.

    python -m apps.sentiment.train [--config=configs/sentiment/default.yaml]
        [--data_dir=DIR] [--init=minilm|DIR|none] [--export_dir=saved_models/sentiment]
        [--model_dir=runs/...] [--strategy=default|mirrored|multi_worker]
        [--mixed_precision] [--set task.sequence_length=64 ...]

The sentiment preset of `apps.classify.train`: the same command line, with
`configs/sentiment/` and `runs/sentiment/` as defaults.
"""

import sys

from absl import app

from apps.classify import train
from apps.sentiment.config import APP_NAME
from bertlab.tasks import fine_tuning_cli

train.define_flags(APP_NAME, "default.yaml")


def main(argv):
    train.run(argv, app_name=APP_NAME)


if __name__ == "__main__":
    app.run(main, argv=fine_tuning_cli.normalize_argv(sys.argv))
