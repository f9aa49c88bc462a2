"""The language-model app: GPT-style pretraining on plain text, perplexity and bits per
character, text generation (`train`, `evaluate`, `generate`)."""
