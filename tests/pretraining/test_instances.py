import random

import pytest

from bertlab.pretraining import instances

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"] + [f"w{i}" for i in range(20)] \
    + [f"##p{i}" for i in range(10)]
CLS, SEP, MASK = 2, 3, 4
WORD = list(range(6, 26))
PIECE = list(range(26, 36))


def _vocab():
    return instances.InstanceVocabulary(VOCAB)


def test_vocabulary_requires_special_tokens():
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        instances.InstanceVocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    vocab = _vocab()
    # Random replacements never draw a bracketed special token.
    assert not {0, 1, 2, 3, 4, 5} & set(vocab.replacement_ids)


def test_truncate_seq_pair_trims_the_longer_side_to_budget():
    rng = random.Random(0)
    a, b = list(range(10)), list(range(100, 103))
    instances.truncate_seq_pair(a, b, 8, rng)
    assert len(a) + len(b) == 8 and b == [100, 101, 102]
    assert a == list(range(a[0], a[0] + 5))  # a contiguous middle part of a


def test_masking_skips_specials_and_records_originals():
    vocab = _vocab()
    rng = random.Random(3)
    tokens = [CLS] + WORD[:10] + [SEP] + WORD[10:20] + [SEP]
    segments = [0] * 12 + [1] * 11
    for _ in range(50):
        out, positions, labels, counts = instances.create_masked_lm_predictions(
            tokens, segments, vocab, 0.15, 20, False, rng)
        assert len(positions) == round(len(tokens) * 0.15) == sum(counts)
        assert positions == sorted(positions)
        assert all(tokens[p] not in (CLS, SEP) for p in positions)
        assert labels == [tokens[p] for p in positions]
        unchanged = [i for i in range(len(tokens)) if i not in positions]
        assert all(out[i] == tokens[i] for i in unchanged)
        assert counts[0] == sum(out[p] == MASK for p in positions)


def test_whole_word_masking_keeps_words_whole_and_not_across_sep():
    vocab = _vocab()
    rng = random.Random(5)
    # words: w0 ##p0 ##p1 | w1 | w2 ##p2 ; segment B starts with a ##piece.
    tokens = [CLS, WORD[0], PIECE[0], PIECE[1], WORD[1], WORD[2], PIECE[2], SEP,
              PIECE[3], WORD[3], PIECE[4], SEP]
    segments = [0] * 8 + [1] * 4
    groups = [{1, 2, 3}, {4}, {5, 6}, {8}, {9, 10}]
    for _ in range(200):
        _, positions, _, _ = instances.create_masked_lm_predictions(
            tokens, segments, vocab, 0.3, 3, True, rng)
        chosen = set(positions)
        assert chosen and len(chosen) <= 3
        for group in groups:
            assert chosen & group in (set(), group)


def test_instances_from_documents():
    vocab = _vocab()
    rng = random.Random(11)
    docs = [[[WORD[i % 20]] * 7 for i in range(12)], [[WORD[5]] * 9 for _ in range(6)]]
    made = instances.create_instances_from_document(docs, 0, vocab, 32, 0.0, 0.15, 5, rng)
    assert made
    for inst in made:
        assert len(inst.tokens) <= 32
        assert inst.tokens[0] == CLS and inst.tokens[-1] == SEP
        assert inst.tokens.count(SEP) == 2
        first_sep = inst.tokens.index(SEP)
        assert inst.segment_ids == [0] * (first_sep + 1) + [1] * (len(inst.tokens) - first_sep - 1)
        assert 1 <= len(inst.masked_lm_positions) <= 5


def test_marked_word_continuations_are_masked_with_their_word():
    """Chinese whole-word masking: segmenter words arrive as marked ids (`-1 - id`)."""
    vocab = _vocab()
    rng = random.Random(8)
    # Words: w0 w1 w2 (three ideographs of one word) | w3 | w4 w5 ##p0 (a two-character word
    # whose last token is a WordPiece piece) | w6; segment B: w7 w8 | w9.
    words = [[WORD[0], WORD[1], WORD[2]], [WORD[3]], [WORD[4], WORD[5], PIECE[0]], [WORD[6]]]
    words_b = [[WORD[7], WORD[8]], [WORD[9]]]

    def marked(word_list):
        return [t for w in word_list
                for t in instances.mark_word_continuations(w, [False] + [True] * (len(w) - 1))]

    tokens = [CLS] + marked(words) + [SEP] + marked(words_b) + [SEP]
    assert tokens[2] == -1 - WORD[1] and tokens[6] == -1 - WORD[5] and tokens[7] == -1 - PIECE[0]
    plain = [CLS] + [t for w in words for t in w] + [SEP] + [t for w in words_b for t in w] + [SEP]
    segments = [0] * 10 + [1] * 4
    groups = [{1, 2, 3}, {4}, {5, 6, 7}, {8}, {10, 11}, {12}]
    seen = set()
    for _ in range(300):
        out, positions, labels, counts = instances.create_masked_lm_predictions(
            tokens, segments, vocab, 0.4, 4, True, rng)
        chosen = set(positions)
        for group in groups:
            assert chosen & group in (set(), group)
            if chosen & group:
                seen.add(min(group))
        assert labels == [plain[p] for p in positions]  # marks removed from the labels
        assert all(t >= 0 for t in out)  # and from the tokens
        assert all(out[i] == plain[i] for i in range(len(plain)) if i not in chosen)
        assert sum(counts) == len(positions) <= 4
    assert seen == {1, 4, 5, 8, 10, 12}
    # Without whole-word masking the marks are only removed.
    out, positions, _, _ = instances.create_masked_lm_predictions(
        tokens, segments, vocab, 0.15, 20, False, rng)
    assert all(out[i] == plain[i] for i in range(len(plain)) if i not in positions)
