"""`apply_schedule`: a run in epochs becomes the runner's steps, evaluations and warm-up."""

import pytest

from bertlab.training import OptimizerConfig, ScheduleConfig, TrainerConfig, apply_schedule


def test_apply_schedule():
    trainer, optimizer = apply_schedule(ScheduleConfig(epochs=2, evals_per_epoch=2,
                                                       warmup_fraction=0.1),
                                        TrainerConfig(global_batch_size=8), OptimizerConfig(),
                                        num_train_examples=100)
    assert (trainer.train_steps, trainer.eval_interval, trainer.checkpoint_interval) == (26, 6, 6)
    assert optimizer.warmup_steps == 3
    same = apply_schedule(ScheduleConfig(epochs=0), TrainerConfig(train_steps=7),
                          OptimizerConfig(warmup_steps=2), 100)
    assert same[0].train_steps == 7 and same[1].warmup_steps == 2
    # A final fit: the same steps and checkpoints, no evaluation (none at the end either).
    final, _ = apply_schedule(ScheduleConfig(epochs=2, evals_per_epoch=2, final_fit=True),
                              TrainerConfig(global_batch_size=8), OptimizerConfig(), 100)
    assert (final.train_steps, final.eval_interval, final.checkpoint_interval,
            final.eval_at_end) == (26, 0, 6, False)
    given, _ = apply_schedule(ScheduleConfig(epochs=0, final_fit=True),
                              TrainerConfig(train_steps=7, eval_interval=3), OptimizerConfig(), 100)
    assert (given.train_steps, given.eval_interval, given.eval_at_end) == (7, 0, False)
    with pytest.raises(ValueError, match="warmup_fraction"):
        ScheduleConfig(warmup_fraction=1.5)
