"""Tags the entities in texts with an exported NER SavedModel.

    python -m apps.ner.predict --model_dir=saved_models/ner/1 "EU rejects German call"
    cat sentences.txt | python -m apps.ner.predict --model_dir=saved_models/ner/1

Words are whitespace-separated (punctuation attached to a word is part of it);
`--characters` makes every character a word (Chinese models trained on
character-level data, e.g. `configs/ner/weibo.yaml`).
Prints each text with its entities bracketed and typed, e.g.
`[EU]ORG rejects [German]MISC call`, and the entity list; `--json` prints one
JSON object per line with the words, their tags and the entities.
"""

import os

from absl import app, flags

from apps.ner.config import APP_NAME, REPO_ROOT
from apps.ner.output_format import format_prediction
from bertlab.export import ExportedModel, read_texts

flags.DEFINE_string("model_dir", os.path.join(REPO_ROOT, "saved_models", APP_NAME),
                    "An exported version directory, or the base directory (latest version).")
flags.DEFINE_bool("json", False, "Print JSON lines instead of text.")
flags.DEFINE_integer("batch_size", 64, "Texts per call of the model.")
flags.DEFINE_bool("characters", False, "Treat every non-space character as a word (for "
                  "models trained on character-level data such as Weibo NER): the text is "
                  "sent with a space between characters.")
FLAGS = flags.FLAGS


def main(argv):
    texts = read_texts(argv[1:])
    if not texts:
        raise app.UsageError("Give texts as arguments or lines on stdin.")
    if FLAGS.characters:
        texts = [" ".join("".join(text.split())) for text in texts]
    model = ExportedModel(FLAGS.model_dir)
    outputs = model.run(texts, FLAGS.batch_size)
    for tokens, tags in zip(outputs["tokens"], outputs["tags"]):
        words = [t.decode("utf-8") for t in tokens]
        print(format_prediction(words, [t.decode("utf-8") for t in tags], FLAGS.json))


if __name__ == "__main__":
    app.run(main)
