"""Retrieval for TaoSR1 prompts: an embedder, FAISS indexes with metadata, the shipped corpora.

Public entry points: :class:`~retrieval.knowledge.KnowledgeBase` (query → RetrievedContext),
:func:`~retrieval.build.build_indexes` (corpora → index folder), and the building blocks
:class:`~retrieval.embedder.Embedder` and :class:`~retrieval.index.VectorIndex`. Importing the
package is cheap: torch, transformers and faiss load only when those modules are imported.
"""
