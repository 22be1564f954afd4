"""taosr1: online relevance scoring for e-commerce search (console entry point lives in cli.py)."""

__version__ = "0.1.0"
