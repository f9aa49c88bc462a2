"""Vocabulary aliases: new tokens that share the embedding of an existing token.

A vocabulary learned from simplified-Chinese text (Chinese Wikipedia) maps the
traditional characters of Taiwanese and Hong Kong text (DRCD, Tatoeba, part of
Weibo and ChnSentiCorp) to `[UNK]`. Appending each traditional character as a
token whose embedding row is a copy of its simplified form's row (這 -> 这)
makes the tokenizer read it as that character, with no conversion step at
tokenization time: the in-graph tokenizer, its offsets, TF Serving and LiteRT
are unchanged, and fine-tuning may still move the two rows apart. Only
character-to-character aliases of single-code-point tokens are meaningful for
CJK text (an ideograph is always a word of its own).

Example:
>>> encoder, vocab = with_token_aliases(encoder, vocab, {"這": "这", "國": "国"})
>>> len(vocab) == encoder.vocabulary_size
True
"""

import numpy as np

from bertlab.models.bert_checkpoint import (CheckpointError, assign_hf_weights,
                                            export_hf_weights)
from bertlab.models.bert_encoder import INPUT_NAMES

_TOKEN_EMBEDDINGS = "embeddings.word_embeddings.weight"


def with_token_aliases(encoder, vocabulary, aliases):
    """A copy of `encoder` whose vocabulary ends with the new tokens of `aliases`.

    Args:
      encoder: a `BertEncoder`.
      vocabulary: its tokens (list of str, `encoder.vocabulary_size` long).
      aliases: `{new token: existing token}`; an entry whose new token is already
        in the vocabulary is skipped (the learned row wins).

    Returns:
      `(encoder, vocabulary)`: a new encoder of the same class and settings with
      `vocabulary_size + n` rows (rows of the old tokens and all other weights
      unchanged, each new row a copy of its target's), and the extended list.

    Raises:
      CheckpointError: the vocabulary does not match the encoder, or an alias
        points to a token that is not in it.
    """
    vocabulary = list(vocabulary)
    if len(vocabulary) != encoder.vocabulary_size:
        raise CheckpointError(f"The vocabulary has {len(vocabulary)} tokens, the encoder "
                              f"{encoder.vocabulary_size}.")
    index = {token: i for i, token in enumerate(vocabulary)}
    missing = sorted({target for target in aliases.values() if target not in index})
    if missing:
        raise CheckpointError(f"Alias targets not in the vocabulary: {missing[:10]}")
    new = [(token, target) for token, target in aliases.items() if token not in index]
    tensors = export_hf_weights(encoder)
    table = tensors[_TOKEN_EMBEDDINGS]
    rows = np.stack([table[index[target]] for _, target in new]) if new else table[:0]
    tensors[_TOKEN_EMBEDDINGS] = np.concatenate([table, rows])
    config = encoder.get_config()
    config["vocabulary_size"] = len(vocabulary) + len(new)
    extended = type(encoder).from_config(config)
    extended({name: np.zeros((1, 2), "int32") for name in INPUT_NAMES})
    assign_hf_weights(extended, tensors, source="aliased encoder")
    return extended, vocabulary + [token for token, _ in new]
