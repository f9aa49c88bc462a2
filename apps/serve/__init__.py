"""`python -m apps.serve`: the exported apps behind TF Serving's REST API, with a demo page."""
