"""Machine translation: Multi30k (en<->de) and Tatoeba (en<->zh).

- `python -m apps.translation.train --config=configs/translation/default.yaml`
  trains a shared SentencePiece vocabulary and a Transformer, picks the best
  checkpoint by validation BLEU (beam search), exports a SavedModel to
  `saved_models/translation/<version>/` and writes `summary.json`.
- `python -m apps.translation.evaluate --model_dir=saved_models/translation/1 --data=multi30k`
- `python -m apps.translation.predict --model_dir=saved_models/translation/1 "A dog runs."`
"""
