"""Typed declarations out: an ``llm.Model`` and ``llm.AsyncModel`` class pair
for a chat declaration (``chat``), an ``llm.EmbeddingModel`` class for an
embedding one (``embedding``), and their options (``options``).
"""
