"""Labelled (query, product) pairs on disk: ESCI CSV, WANDS folders, JSONL — readers and writer.

Shared by training (data, eval), the service (the reload canary) and the CLI, so a file reads
the same everywhere. Loading only: no sampling, balancing, splitting or prompting.
"""
