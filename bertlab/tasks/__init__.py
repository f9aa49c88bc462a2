"""Fine-tuning tasks for the training runner: sentence classification, token classification."""

from bertlab.tasks.entity_span_f1 import EntitySpanF1
