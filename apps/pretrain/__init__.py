"""BERT pretraining apps: learn a vocabulary, create MLM/NSP data, train."""
