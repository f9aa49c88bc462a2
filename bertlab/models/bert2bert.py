"""BERT2BERT: a `Seq2SeqTransformer` whose encoder and decoder start from a pretrained BERT
(Rothe et al., 2020, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks").

Example:
>>> model = build_bert2bert("path/to/bert", num_decoder_layers=3)
>>> model.num_encoder_layers, model.num_decoder_layers
(6, 3)
"""

from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.seq2seq_transformer import Seq2SeqTransformer


def build_bert2bert(bert_dir, vocabulary_size=None, dropout=0.1, num_decoder_layers=None):
    """A `Seq2SeqTransformer` whose encoder and decoder start from a pretrained BERT.

    The encoder is BERT; each decoder layer copies the BERT layer of the same
    index (self-attention, feed-forward, LayerNorms), and its cross-attention
    starts from that layer's self-attention weights (query from the query
    projection, keys/values from the key/value projections). Token, position
    and embedding-LayerNorm weights are shared BERT's; BERT's segment-0
    embedding is folded into the position table (the sum is the same). The
    output projection is tied to the token embedding.

    Args:
      bert_dir: a Hugging Face-layout BERT directory (`BertEncoder.from_pretrained`).
      vocabulary_size: must equal BERT's if given.
      dropout: dropout of the new model.
      num_decoder_layers: decoder depth (default: BERT's; at most BERT's).
    """
    bert = BertEncoder.from_pretrained(bert_dir)
    if vocabulary_size is not None and int(vocabulary_size) != bert.vocabulary_size:
        raise ValueError(f"`vocabulary_size`={vocabulary_size} differs from the BERT "
                         f"checkpoint's {bert.vocabulary_size} ({bert_dir}).")
    num_decoder_layers = num_decoder_layers or bert.num_layers
    if num_decoder_layers > bert.num_layers:
        raise ValueError(f"`num_decoder_layers`={num_decoder_layers} exceeds BERT's "
                         f"{bert.num_layers} layers.")
    model = Seq2SeqTransformer(
        bert.vocabulary_size, num_encoder_layers=bert.num_layers,
        num_decoder_layers=num_decoder_layers, hidden_dim=bert.hidden_dim,
        num_heads=bert.num_heads, intermediate_dim=bert.intermediate_dim,
        max_sequence_length=bert.max_sequence_length, dropout=dropout,
        activation=bert.activation, layer_norm_epsilon=bert.layer_norm_epsilon,
        normalize_first=bert.normalize_first, position_type=bert.position_type,
        tie_output_embeddings=True, embedding_layer_norm=True)
    initialize_from_bert(model, bert)
    return model


def initialize_from_bert(model, bert):
    """Copies a `BertEncoder`'s weights into `model` (see `build_bert2bert`)."""
    if model.hidden_dim != bert.hidden_dim or model.num_encoder_layers != bert.num_layers:
        raise ValueError("The Seq2SeqTransformer does not have the BERT encoder's shape.")
    if not model.embedding_layer_norm or model.position_type != bert.position_type:
        raise ValueError("BERT2BERT needs `embedding_layer_norm=True` and BERT's position type.")
    source = bert.embeddings
    for target in (model.encoder_embeddings, model.decoder_embeddings):
        target.token_embedding.set_weights(source.token_embedding.get_weights())
        positions = source.position_embedding.get_weights()[0]
        if source.segment_embedding is not None:
            positions = positions + source.segment_embedding.get_weights()[0][0][None, :]
        target.position_embedding.set_weights([positions])
        target.layer_norm.set_weights(source.layer_norm.get_weights())
    for bert_block, block in zip(bert.transformer_layers, model.encoder_blocks):
        block.set_weights(bert_block.get_weights())
    dim = bert.hidden_dim
    for bert_block, block in zip(bert.transformer_layers, model.decoder_blocks):
        attention = bert_block.attention
        block.self_attention.set_weights(attention.get_weights())
        block.self_attention_layer_norm.set_weights(bert_block.attention_layer_norm.get_weights())
        kernel, bias = attention.qkv_dense.get_weights()
        block.cross_attention.query_dense.set_weights([kernel[:, :dim], bias[:dim]])
        block.cross_attention.key_value_dense.set_weights([kernel[:, dim:], bias[dim:]])
        block.cross_attention.output_dense.set_weights(attention.output_dense.get_weights())
        block.cross_attention_layer_norm.set_weights(bert_block.attention_layer_norm.get_weights())
        block.feed_forward.set_weights(bert_block.feed_forward.get_weights())
        block.output_layer_norm.set_weights(bert_block.output_layer_norm.get_weights())
    return model
