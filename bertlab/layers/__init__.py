"""Keras 3 building blocks for BERT-style encoders and encoder-decoder Transformers."""

from bertlab.layers.bert_embeddings import BertEmbeddings
from bertlab.layers.dense_2d import Dense2D
from bertlab.layers.fast_dropout import FastDropout
from bertlab.layers.feed_forward import FeedForward
from bertlab.layers.masked_lm_head import MaskedLMHead
from bertlab.layers.multi_head_attention import MultiHeadAttention
from bertlab.layers.output_projection import OutputProjection
from bertlab.layers.position_embedding import PositionEmbedding
from bertlab.layers.sinusoidal_position_encoding import SinusoidalPositionEncoding
from bertlab.layers.transformer_decoder_block import TransformerDecoderBlock
from bertlab.layers.transformer_encoder_block import TransformerEncoderBlock
