"""Pretraining instances (MLM + NSP) from tokenized documents.

The semantics follow google-research/bert's `create_pretraining_data.py`, on
token ids instead of token strings:

- Sentences of a document are packed into a chunk until it reaches the target
  length `max_seq_length - 3`; with probability `short_seq_prob` the target is
  a random length in `[2, max_seq_length - 3]` instead.
- A chunk is split at a random sentence boundary into A and B. With
  probability 0.5 (and always when the chunk holds one sentence), B is replaced
  by text starting at a random sentence of another document
  (`next_sentence_label` 1, "random next"); the unused sentences of the chunk
  are put back. Otherwise B is the true continuation (label 0).
- The pair is truncated to `max_seq_length - 3` tokens, removing from the
  longer side, from the front or the back at random.
- `round(len(tokens) * masked_lm_prob)` tokens (at least 1, at most
  `max_predictions_per_seq`) are predicted; `[CLS]` and `[SEP]` never are. Of
  the chosen tokens 80% become `[MASK]`, 10% a random token, 10% stay.
  With whole-word masking, a word's `##` continuation pieces are chosen with it,
  and so are the tokens marked as continuing a segmenter word (Chinese
  whole-word masking: `mark_word_continuations`, an id `t` stored as `-1 - t`;
  marks are removed before the instance is made, whether or not whole words
  are masked).

Two deliberate differences from the reference:
- a random replacement is drawn from the vocabulary minus its bracketed
  special tokens (`[PAD]`, `[CLS]`, `[unused0]`, ...), never a special token;
- a whole word never spans `[SEP]` (the reference attaches a `##` piece at the
  start of segment B to the last word of A).

Example:
>>> rng = random.Random(1)
>>> vocab = InstanceVocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b"])
>>> docs = [[[5, 6], [5]], [[5, 5, 6]]]
>>> inst = create_instances_from_document(docs, 0, vocab, 16, 0.0, 0.15, 4, rng)
>>> inst[0].tokens[0] == vocab.cls_id
True
"""

import dataclasses
import re

_SPECIAL_TOKEN = re.compile(r"^\[[^\[\]]+\]$")


@dataclasses.dataclass
class TrainingInstance:
    """One pretraining example before padding.

    `tokens` are ids (`[CLS] A [SEP] B [SEP]`, masked); `masked_lm_positions`
    are sorted indices into `tokens`; `masked_lm_ids` the original ids there;
    `num_mask`/`num_random`/`num_kept` count how the chosen tokens were
    replaced.
    """
    tokens: list
    segment_ids: list
    masked_lm_positions: list
    masked_lm_ids: list
    is_random_next: bool
    num_mask: int = 0
    num_random: int = 0
    num_kept: int = 0


class InstanceVocabulary:
    """What instance creation needs from a WordPiece vocabulary (list of tokens).

    Raises `ValueError` naming the token when `[CLS]`, `[SEP]` or `[MASK]` is
    missing, or when no ordinary token is left to draw random replacements from.
    """

    def __init__(self, tokens):
        self.tokens = list(tokens)
        index = {t: i for i, t in enumerate(self.tokens)}
        for name in ("[CLS]", "[SEP]", "[MASK]"):
            if name not in index:
                raise ValueError(f"The vocabulary has no {name} token.")
        self.cls_id = index["[CLS]"]
        self.sep_id = index["[SEP]"]
        self.mask_id = index["[MASK]"]
        self.is_continuation = [t.startswith("##") for t in self.tokens]
        self.replacement_ids = [i for i, t in enumerate(self.tokens)
                                if not _SPECIAL_TOKEN.match(t)]
        if not self.replacement_ids:
            raise ValueError("The vocabulary has only special tokens.")

    def __len__(self):
        return len(self.tokens)


def mark_word_continuations(ids, continuations):
    """Token ids with each token that continues the word before it (a `True` in
    `continuations`) stored as `-1 - id`, which whole-word masking reads as "mask with
    the token before". Marked ids travel through sentence packing and truncation like
    any id; `create_masked_lm_predictions` removes the marks.

    Example:
    >>> mark_word_continuations([7, 8, 9], [False, True, False])
    [7, -9, 9]
    """
    return [-1 - t if c else t for t, c in zip(ids, continuations)]


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Truncates the two lists in place to at most `max_num_tokens` in total,
    one token at a time from the longer one, at its front or back at random."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc[0]
        else:
            trunc.pop()


def create_masked_lm_predictions(tokens, segment_ids, vocab, masked_lm_prob,
                                 max_predictions_per_seq, whole_word_mask, rng):
    """Chooses and replaces the tokens to predict (see module docstring).

    `tokens` may hold marked ids (`mark_word_continuations`): they continue the word
    before them, and come out unmarked.

    Returns `(output_tokens, positions, original_ids, (num_mask, num_random,
    num_kept))`, positions sorted.
    """
    continues = [t < 0 or vocab.is_continuation[t] for t in tokens]
    tokens = [t if t >= 0 else -1 - t for t in tokens]
    cand_indexes = []
    for i, token in enumerate(tokens):
        if token == vocab.cls_id or token == vocab.sep_id:
            continue
        if (whole_word_mask and cand_indexes and continues[i]
                and cand_indexes[-1][-1] == i - 1 and segment_ids[i - 1] == segment_ids[i]):
            cand_indexes[-1].append(i)
        else:
            cand_indexes.append([i])
    rng.shuffle(cand_indexes)

    output_tokens = list(tokens)
    num_to_predict = min(max_predictions_per_seq,
                         max(1, int(round(len(tokens) * masked_lm_prob))))
    masked = []
    counts = [0, 0, 0]
    for index_set in cand_indexes:
        if len(masked) >= num_to_predict:
            break
        if len(masked) + len(index_set) > num_to_predict:
            continue
        for index in index_set:
            if rng.random() < 0.8:
                replacement = vocab.mask_id
                counts[0] += 1
            elif rng.random() < 0.5:
                replacement = tokens[index]
                counts[2] += 1
            else:
                replacement = vocab.replacement_ids[
                    rng.randint(0, len(vocab.replacement_ids) - 1)]
                counts[1] += 1
            output_tokens[index] = replacement
            masked.append(index)
    masked.sort()
    return output_tokens, masked, [tokens[i] for i in masked], tuple(counts)


def create_instances_from_document(all_documents, document_index, vocab, max_seq_length,
                                   short_seq_prob, masked_lm_prob, max_predictions_per_seq,
                                   rng, whole_word_mask=False):
    """All instances of one document (a list of sentences, each a list of ids).

    `all_documents` is the pool that random next segments are drawn from; the
    document itself is `all_documents[document_index]`.
    """
    document = all_documents[document_index]
    max_num_tokens = max_seq_length - 3
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances = []
    current_chunk = []
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        if i == len(document) - 1 or current_length >= target_seq_length:
            if current_chunk:
                a_end = 1
                if len(current_chunk) >= 2:
                    a_end = rng.randint(1, len(current_chunk) - 1)
                tokens_a = [t for sentence in current_chunk[:a_end] for t in sentence]

                tokens_b = []
                if len(current_chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    random_index = document_index
                    for _ in range(10):
                        random_index = rng.randint(0, len(all_documents) - 1)
                        if random_index != document_index:
                            break
                    random_document = all_documents[random_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for sentence in random_document[random_start:]:
                        tokens_b.extend(sentence)
                        if len(tokens_b) >= target_b_length:
                            break
                    # Put the unused sentences back.
                    i -= len(current_chunk) - a_end
                else:
                    is_random_next = False
                    tokens_b = [t for sentence in current_chunk[a_end:] for t in sentence]
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                if tokens_a and tokens_b:
                    tokens = [vocab.cls_id] + tokens_a + [vocab.sep_id] + tokens_b + [vocab.sep_id]
                    segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                    tokens, positions, labels, counts = create_masked_lm_predictions(
                        tokens, segment_ids, vocab, masked_lm_prob, max_predictions_per_seq,
                        whole_word_mask, rng)
                    instances.append(TrainingInstance(
                        tokens=tokens, segment_ids=segment_ids, masked_lm_positions=positions,
                        masked_lm_ids=labels, is_random_next=is_random_next,
                        num_mask=counts[0], num_random=counts[1], num_kept=counts[2]))
            current_chunk = []
            current_length = 0
        i += 1
    return instances
