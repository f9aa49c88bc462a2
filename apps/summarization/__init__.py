"""Abstractive summarization: SciTLDR (abstract -> TL;DR) and CSL (Chinese abstract -> title).

- `python -m apps.summarization.train --config=configs/summarization/default.yaml`
  fine-tunes a BERT2BERT model started from MiniLM (SciTLDR) or trains a small
  Transformer with a SentencePiece vocabulary (CSL), picks the best checkpoint
  by validation ROUGE-L (beam search), exports a SavedModel to
  `saved_models/summarization/<version>/` and writes `summary.json` (with the
  first-sentence baseline scored the same way).
- `python -m apps.summarization.evaluate --model_dir=saved_models/summarization/1 --data=scitldr`
- `python -m apps.summarization.predict --model_dir=saved_models/summarization/1 "An abstract ..."`
"""
