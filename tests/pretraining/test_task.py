import json

import numpy as np
import pytest
import tensorflow as tf

from bertlab.config import load_config
from bertlab.export import publish
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_pretrainer import BertPretrainer
from bertlab.models import pretraining_losses as losses
from bertlab.pretraining.task import PretrainingTask, PretrainingTaskConfig
from bertlab.text import load_vocabulary

TINY = {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64,
        "max_sequence_length": 128}


def _config(pretraining_files, vocab_file, **kwargs):
    prefix = pretraining_files[0]
    values = dict(train_files=f"{prefix}-*.tfrecord", validation_files=f"{prefix}-00001-*.tfrecord",
                  vocab_file=str(vocab_file), global_batch_size=8, encoder=dict(TINY),
                  shuffle_buffer_size=64)
    values.update(kwargs)
    return PretrainingTaskConfig(**values)


def test_config_from_overrides():
    config = load_config(PretrainingTaskConfig, None, {
        "train_files": "a-*.tfrecord", "encoder.num_layers": "2", "encoder.dropout": "0.0",
        "use_next_sentence_label": "false"})
    assert config.encoder == {"num_layers": 2, "dropout": 0.0}
    assert not config.use_next_sentence_label
    with pytest.raises(ValueError, match="encoder_preset"):
        PretrainingTaskConfig(encoder_preset="huge")
    with pytest.raises(ValueError, match="global_batch_size"):
        PretrainingTaskConfig(global_batch_size=0)


def test_model_dataset_loss_and_metrics(pretraining_files, vocab_file):
    task = PretrainingTask(_config(pretraining_files, vocab_file))
    model = task.build_model()
    assert isinstance(model, BertPretrainer)
    assert model.encoder.vocabulary_size == len(load_vocabulary(str(vocab_file)))
    assert model.encoder.num_layers == 1 and model.encoder.hidden_dim == 32
    features, labels = next(iter(task.build_dataset("train")))
    outputs = model(features, training=False)
    loss_sum, weight_sum = task.compute_loss(labels, outputs)
    # On one batch, loss_sum / weight_sum is exactly masked-LM mean + NSP mean.
    assert float(weight_sum) == pytest.approx(float(tf.reduce_sum(labels["masked_lm_weights"])))
    assert float(loss_sum / weight_sum) == pytest.approx(
        float(losses.pretraining_loss(labels, outputs)), rel=1e-5)
    metrics = task.build_metrics()
    task.update_metrics(metrics, labels, outputs)
    results = task.aggregate_eval(metrics)
    assert set(results) == {"mlm_accuracy", "mlm_perplexity", "nsp_accuracy"}
    # An untrained model is close to uniform over the vocabulary.
    assert 0.3 * model.encoder.vocabulary_size < results["mlm_perplexity"] < 3 * model.encoder.vocabulary_size
    with pytest.raises(ValueError, match="split"):
        task.build_dataset("test")


def test_loss_normalization_is_global_over_replicas(pretraining_files, vocab_file):
    """Summing (loss_sum, weight_sum) over two halves of a batch (two replicas)
    gives the masked-LM mean over the whole batch exactly; the NSP term is each
    half's NSP mean weighted by its share of the mask weight."""
    task = PretrainingTask(_config(pretraining_files, vocab_file))
    model = task.build_model()
    features, labels = next(iter(task.build_dataset("train")))
    outputs = model(features, training=False)
    halves = [slice(0, 3), slice(3, 8)]
    sums = [task.compute_loss({k: v[h] for k, v in labels.items()},
                              {k: v[h] for k, v in outputs.items()}) for h in halves]
    total = sum(float(s) for s, _ in sums) / sum(float(w) for _, w in sums)
    weights = [float(w) for _, w in sums]
    nsp = [float(losses.next_sentence_loss(labels["next_sentence_labels"][h], outputs["nsp_logits"][h]))
           for h in halves]
    mlm = float(losses.masked_lm_loss(labels["masked_lm_ids"], outputs["mlm_logits"],
                                      labels["masked_lm_weights"]))
    expected = mlm + sum(w * n for w, n in zip(weights, nsp)) / sum(weights)
    assert total == pytest.approx(expected, rel=1e-5)
    full_sum, full_weight = task.compute_loss(labels, outputs)
    nsp_all = float(losses.next_sentence_loss(labels["next_sentence_labels"], outputs["nsp_logits"]))
    assert float(full_sum / full_weight) == pytest.approx(mlm + nsp_all, rel=1e-5)


def test_mlm_only_task(pretraining_files, vocab_file):
    task = PretrainingTask(_config(pretraining_files, vocab_file, use_next_sentence_label=False))
    model = task.build_model()
    features, labels = next(iter(task.build_dataset("validation")))
    outputs = model(features, training=False)
    assert "nsp_logits" not in outputs
    loss_sum, weight_sum = task.compute_loss(labels, outputs)
    assert float(loss_sum / weight_sum) == pytest.approx(float(losses.masked_lm_loss(
        labels["masked_lm_ids"], outputs["mlm_logits"], labels["masked_lm_weights"])), rel=1e-5)
    assert [m.name for m in task.build_metrics()] == ["mlm_accuracy", "mlm_perplexity"]


def test_init_checkpoint_and_export(pretraining_files, vocab_file, tmp_path):
    vocab = load_vocabulary(str(vocab_file))
    source = BertEncoder(vocabulary_size=len(vocab), **TINY)
    source.save_pretrained(str(tmp_path / "init"), vocabulary=vocab)
    task = PretrainingTask(_config(pretraining_files, vocab_file,
                                   init_checkpoint=str(tmp_path / "init"), encoder={}))
    model = task.build_model()
    np.testing.assert_array_equal(model.encoder.token_embedding.embeddings.numpy(),
                                  source.token_embedding.embeddings.numpy())
    publish(str(tmp_path / "out" / "encoder"), lambda d: task.export(model, d), versioned=False)
    reloaded = BertEncoder.from_pretrained(str(tmp_path / "out" / "encoder"))
    np.testing.assert_array_equal(reloaded.token_embedding.embeddings.numpy(),
                                  source.token_embedding.embeddings.numpy())
    assert load_vocabulary(str(tmp_path / "out" / "encoder" / "vocab.txt")) == vocab


def test_vocabulary_size_mismatch_is_an_error(pretraining_files, vocab_file):
    task = PretrainingTask(_config(pretraining_files, vocab_file, vocabulary_size=99))
    with pytest.raises(ValueError, match="vocabulary_size"):
        task.build_model()


def test_trains_with_the_runner(pretraining_files, vocab_file, tmp_path):
    from bertlab.training.configs import OptimizerConfig, TrainerConfig
    from bertlab.training.trainer import Trainer

    task = PretrainingTask(_config(pretraining_files, vocab_file))
    trainer = Trainer(task, TrainerConfig(train_steps=12, global_batch_size=8, steps_per_loop=6,
                                          log_interval=6, checkpoint_interval=0, eval_steps=2),
                      OptimizerConfig(learning_rate=5e-3, weight_decay=0.0),
                      str(tmp_path / "run"))
    before = trainer.evaluate()
    summary = trainer.train()
    after = summary["final_eval"]
    assert summary["steps"] == 12
    assert set(after) >= {"loss", "mlm_accuracy", "mlm_perplexity", "nsp_accuracy"}
    assert after["loss"] < before["loss"]
    with open(tmp_path / "run" / "summary.json", encoding="utf-8") as f:
        assert json.load(f)["steps"] == 12
    trainer.close()
