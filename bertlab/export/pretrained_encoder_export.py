"""The export of a pretrained encoder: what `apps.pretrain.train` publishes and the task
apps' `--init` reads.

Not a SavedModel: the Hugging Face BERT layout (`config.json`,
`model.safetensors`, `tokenizer_config.json`, `vocab.txt`) that
`BertEncoder.from_pretrained` and `BertPreprocessor.from_pretrained` read, so
that pretraining with bertlab and fine-tuning from its result are one path.

Example:
>>> publish("runs/pretrain-tiny/export",
...         lambda d: export_pretrained_encoder(pretrainer.encoder, d, "vocab.txt"),
...         versioned=False)
"""

from bertlab.models.bert_checkpoint import write_bert_checkpoint


def export_pretrained_encoder(encoder, directory, vocabulary=None, lowercase=True):
    """Writes `encoder` (a `BertEncoder`) and its vocabulary (a path or a list of
    tokens) into the existing `directory`; returns the export's metadata."""
    write_bert_checkpoint(encoder, directory, vocabulary=vocabulary, lowercase=lowercase)
    return {"task": "pretrained_encoder", "lowercase": bool(lowercase),
            "vocabulary_size": int(encoder.vocabulary_size),
            "num_layers": int(encoder.num_layers), "hidden_dim": int(encoder.hidden_dim)}
