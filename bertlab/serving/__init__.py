"""Serving the exports: TF Serving files (models.config, warm-up requests, op checks) and a
local server with TF Serving's REST API (`bertlab.serving.rest_server`)."""
