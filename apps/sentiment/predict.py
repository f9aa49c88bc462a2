"""Classifies texts with an exported sentiment SavedModel.

    python -m apps.sentiment.predict --model_dir=saved_models/sentiment/1 "a fine film" ...
    cat reviews.txt | python -m apps.sentiment.predict --model_dir=saved_models/sentiment/1

The sentiment preset of `apps.classify.predict` (default `--model_dir`:
`saved_models/sentiment`). Prints one line per text: the label, its probability
and the text (`--json`: one JSON object per line with every class probability).
"""

import os

from absl import app

from apps.classify import predict
from apps.sentiment.config import APP_NAME, REPO_ROOT

predict.define_flags(os.path.join(REPO_ROOT, "saved_models", APP_NAME))

if __name__ == "__main__":
    app.run(predict.main)
