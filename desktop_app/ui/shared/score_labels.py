"""Retrieval scores in plain words, with the technical term for those who want it (tooltips):
the chat's retrieval inspector and the Documents section's search show the same names."""

from __future__ import annotations

MEANING = "Meaning match"
KEYWORD = "Keyword match"
COMBINED = "Combined"
RERANKED = "Reranked"

MEANING_TIP = "Vector search: the cosine similarity between the question's and the passage's embeddings (-1..1)"
KEYWORD_TIP = "BM25: the keyword score of the question's words in the passage"
COMBINED_TIP = "Fused rank: reciprocal rank fusion of the meaning and keyword ranks, 1/(60 + rank) summed"
RERANKED_TIP = "Cross-encoder reranker: its score for the question and the passage"
