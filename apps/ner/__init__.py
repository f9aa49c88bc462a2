"""Named-entity recognition: fine-tune, evaluate and query a BERT tagger on raw text.

    python -m apps.ner.train --config=configs/ner/default.yaml
    python -m apps.ner.evaluate --model_dir=saved_models/ner/1 --data=FILE
    python -m apps.ner.predict --model_dir=saved_models/ner/1 "EU rejects German call"
"""
