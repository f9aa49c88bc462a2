"""Helpers shared by the pretraining tests."""

from bertlab.pretraining import pretraining_data


def make_data(wikitext_file, vocab_file, out_dir, **overrides):
    settings = dict(max_seq_length=128, max_predictions_per_seq=20, dupe_factor=2,
                    input_format="wikitext", num_shards=2, random_seed=7)
    settings.update(overrides)
    config = pretraining_data.PretrainingDataConfig(**settings)
    prefix = str(out_dir / "pt")
    stats = pretraining_data.create_pretraining_data(str(wikitext_file), str(vocab_file), prefix,
                                                     config)
    examples = [e for path in stats["files"] for e in pretraining_data.read_examples(path)]
    return prefix, stats, examples
