"""The library pieces together: a tiny language model trained with `fit` on packed Gutenberg
text, validated on a whole held-out book by sliding-window scoring."""

import keras
import numpy as np

from bertlab.data.text_packing import language_model_dataset, tokenize_documents
from bertlab.models import Perplexity, TransformerLanguageModel, score_documents


def test_fit_lowers_held_out_bits_per_character(gutenberg_slices, lm_tokenizer):
    train_files, held_out = gutenberg_slices[:2], gutenberg_slices[2:]
    eod = lm_tokenizer.end_token_id
    train = language_model_dataset(train_files, lm_tokenizer, sequence_length=32,
                                   batch_size=16, end_of_document_id=eod, seed=3)
    model = TransformerLanguageModel(lm_tokenizer.vocabulary_size, num_layers=1, hidden_dim=32,
                                     num_heads=2, intermediate_dim=64, max_sequence_length=32,
                                     dropout=0.0)

    def validate():
        documents = tokenize_documents(held_out, lm_tokenizer)
        return score_documents(model, documents, eod, stride=16, batch_size=64)

    before = validate()
    assert before.num_characters == len(held_out[0].read_text(encoding="utf-8"))
    # An untrained model is close to uniform over the vocabulary.
    assert abs(np.log(before.perplexity) - np.log(lm_tokenizer.vocabulary_size)) < 0.5
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[Perplexity()])
    history = model.fit(train, epochs=3, verbose=0)
    assert history.history["perplexity"][-1] < history.history["perplexity"][0]
    after = validate()
    assert after.num_tokens == before.num_tokens
    assert after.bits_per_character < 0.9 * before.bits_per_character
