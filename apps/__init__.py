"""Task pipelines built on the bertlab library: pretraining, sentiment, NER, translation, summarization."""
