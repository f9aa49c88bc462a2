"""Scores an exported sentiment SavedModel on a labelled data file; prints accuracy (and JSON).

    python -m apps.sentiment.evaluate --model_dir=saved_models/sentiment/1 \
        --data=../shared/data/sst2/dev.tsv

The sentiment preset of `apps.classify.evaluate` (`--config` defaults to
`configs/sentiment/default.yaml`, whose format the data is read in: a TSV with
a header naming a text and a `label` column; `--data` defaults to its report
split, SST-2 dev; `--model_dir` to its export_dir, `saved_models/sentiment`).
The model only sees the raw text, through `serving_default`.
"""

from absl import app

from apps.classify import evaluate
from apps.sentiment.config import APP_NAME

evaluate.define_flags(APP_NAME, "default.yaml")

if __name__ == "__main__":
    app.run(evaluate.main)
