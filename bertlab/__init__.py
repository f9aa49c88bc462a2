"""bertlab: BERT-style encoders and seq2seq Transformers for Keras 3 on TensorFlow."""

__version__ = "0.1.0"
