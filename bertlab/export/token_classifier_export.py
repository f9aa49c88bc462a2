"""SavedModel of a word tagger (NER): raw strings in, words and one BIO tag per word out.

Signatures (TF Serving; `saved_model_cli show --all` lists them):
- `serving_default`: input `text` tf.string `[None]`, words separated by
  whitespace; outputs `tokens` tf.string `[None, None]` (the words) and
  `tags` tf.string `[None, None]` (one tag per word), both padded with "" to
  the most words in the batch.
- `serve_token_ids`: inputs `token_ids`, `segment_ids`, `padding_mask` int32
  `[None, None]` (and `casing_ids` for a model with casing features); outputs
  `logits` and `probabilities` float32 `[None, None, num_tags]` per subword
  position.

Alignment happens in the graph (`bertlab.text.word_tokenization`): each
whitespace word is tokenized by BERT's tokenizer (which may split it further
at punctuation) and its tag is the prediction at its first subword. Texts
longer than `sequence_length` subwords are truncated; the words cut off are
tagged `O` (they are still returned in `tokens`). A model with casing
features (`BertTokenClassifier(num_casing_ids=...)`) gets each word's
capitalisation computed from the raw text too. Invalid UTF-8 bytes become
U+FFFD in `tokens`. Loading needs only `tensorflow` and `tensorflow_text`.

Example:
>>> export_token_classifier(model, tokenizer, tag_names, 128, "/tmp/ner/1")
>>> out = tf.saved_model.load("/tmp/ner/1").signatures["serving_default"](
...     text=tf.constant(["EU rejects German call"]))
>>> out["tags"]
[[b'B-ORG', b'O', b'B-MISC', b'O']]
"""

import tensorflow as tf

from bertlab.export.constant_weights import constant_weights
from bertlab.export.text_classifier_export import (INPUT_NAMES, logits_and_probabilities,
                                                   write_archive)
from bertlab.models.dtype_policy_copy import inference_copy, layer_policies
from bertlab.text.word_tokenization import gather_word_values, pack_words, split_whitespace


def export_token_classifier(model, tokenizer, tag_names, sequence_length, path,
                            dtype_policy="auto"):
    """Writes the tagger with its word tokenization as a SavedModel at `path`.

    Args:
      model: a Keras model mapping `token_ids`/`segment_ids`/`padding_mask` (and
        `casing_ids` when its `num_casing_ids` attribute is > 0) to logits
        `[batch, seq, num_tags]` (e.g. `BertTokenClassifier`).
      tokenizer: the `bertlab.text.BertTokenizer` the model was trained with.
      tag_names: the tag of each class id; must contain "O".
      sequence_length: longest subword sequence given to the model
        (`[CLS]`/`[SEP]` included); longer texts are truncated.
      path: the SavedModel directory.
      dtype_policy: "auto", None or a policy name (see `export_text_classifier`).

    Returns:
      The sorted dtype policies the exported layers compute under.
    """
    tag_names = [str(t) for t in tag_names]
    if "O" not in tag_names:
        raise ValueError(f"`tag_names` must contain 'O', got {tag_names}.")
    outside_id = tag_names.index("O")
    names = tf.constant(tag_names)
    sequence_length = int(sequence_length)

    casing = bool(getattr(model, "num_casing_ids", 0))
    input_names = INPUT_NAMES + (("casing_ids",) if casing else ())

    exported = inference_copy(model, dtype_policy)
    tag = logits_and_probabilities(constant_weights(exported, input_names))

    def serve_text(text):
        words = split_whitespace(tf.reshape(text, [-1]))
        packed = pack_words(tokenizer, words, sequence_length, pad_to_longest=True,
                            with_casing=casing)
        positions = packed.pop("word_positions")
        logits, _ = tag(packed)
        tag_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        word_tags = gather_word_values(tag_ids, positions, fill_value=outside_id)
        tags = tf.ragged.map_flat_values(tf.gather, names, word_tags)
        return {"tokens": words.to_tensor(""), "tags": tags.to_tensor("")}

    def serve_token_ids(*inputs):
        logits, probabilities = tag(dict(zip(input_names, inputs)))
        return {"logits": logits, "probabilities": probabilities}

    write_archive(path, tokenizer, serve_text, serve_token_ids, token_id_inputs=input_names)
    return sorted(layer_policies(exported))
