"""A BERT encoder's forward pass layer by layer, with what distillation compares.

`BertEncoder` returns its final states only; a distillation student is matched
to its teacher on intermediate hidden states (TinyBERT) and on the
self-attention distributions of a layer (MiniLM). `encoder_layer_states` runs
the same layers in the same order (the same values as `encoder(inputs)`) and
keeps them.

Example:
>>> states = encoder_layer_states(encoder, inputs, attention_layers=[-1])
>>> len(states["hidden_states"])            # the embeddings, then every layer
7
>>> states["attention_probabilities"][-1].shape   # [batch, heads, seq, seq]
"""

import tensorflow as tf

from bertlab.models.bert_encoder import INPUT_NAMES, select_inputs


def encoder_layer_states(encoder, inputs, training=None, attention_layers=(),
                         added_embeddings=None):
    """The forward pass of `encoder` (a `BertEncoder`) with its intermediate states.

    Args:
      encoder: a `BertEncoder`.
      inputs: dict of int32 `[batch, seq]` `token_ids`, `segment_ids`,
        `padding_mask`.
      training: dropout on or off.
      attention_layers: indices of the layers (negative from the end) whose
        self-attention distributions to return.
      added_embeddings: `[batch, seq, hidden]` added to the embeddings' output
        (a tagger's casing embedding; `BertEncoder.call_with_added_embeddings`).

    Returns:
      A dict: `hidden_states`, a list of `num_layers + 1` `[batch, seq, hidden]`
      tensors (the embeddings' output, then each layer's output; a pre-norm
      encoder's final LayerNorm is applied to the last one only, as in
      `sequence_output`); `sequence_output` and `pooled_output` as
      `encoder(inputs)` gives them; `attention_probabilities`, a dict from each
      index in `attention_layers` to float32 `[batch, heads, seq, seq]`.
    """
    inputs = select_inputs(inputs, INPUT_NAMES, type(encoder).__name__)
    padding_mask = inputs["padding_mask"]
    blocks = encoder.transformer_layers
    wanted = {index: index % len(blocks) for index in attention_layers}
    x = encoder.embeddings(inputs["token_ids"], inputs["segment_ids"], training=training)
    if added_embeddings is not None:
        x = x + tf.cast(added_embeddings, x.dtype)
    hidden_states = [x]
    attention = {}
    for i, block in enumerate(blocks):
        for index, layer in wanted.items():
            if layer == i:
                attention[index] = block.attention_probabilities(x, padding_mask)
        x = block(x, padding_mask=padding_mask, training=training)
        hidden_states.append(x)
    if encoder.final_layer_norm is not None:
        x = encoder.final_layer_norm(x)
        hidden_states[-1] = x
    return {"hidden_states": hidden_states, "sequence_output": x,
            "pooled_output": encoder.pooler_dense(x[:, 0, :]),
            "attention_probabilities": attention}
