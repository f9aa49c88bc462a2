"""Extractive question answering: fine-tune, evaluate and query a BERT span extractor.

    python -m apps.qa.train --config=configs/qa/default.yaml
    python -m apps.qa.evaluate --model_dir=saved_models/qa --data=FILE.json
    python -m apps.qa.predict --model_dir=saved_models/qa "Who wrote it?" "It was written by Ann."
"""
