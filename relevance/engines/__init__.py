"""Scoring engines behind one protocol; routes and trainers never import vllm or transformers directly."""
