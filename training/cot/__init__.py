"""CoT construction: teachers (offline rule-grounded writer, OpenAI-compatible endpoint) and the RAG builder."""
