"""The retrieval index: BM25 (bm25s) over the help-center corpus shipped in ``corpus/``; no model, no download."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus" / "help_center.jsonl"


@dataclass(frozen=True)
class Document:
    """One help-center article."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved document and its BM25 score."""

    document: Document
    score: float


def load_corpus(path: Path = CORPUS) -> list[Document]:
    """Read a JSON-lines corpus (``id``, ``title``, ``text`` per line)."""
    with path.open(encoding="utf-8") as lines:
        return [Document(**json.loads(line)) for line in lines if line.strip()]


class BM25Index:
    """A BM25 index over documents; ``search`` returns the best ``k`` hits with a positive score."""

    def __init__(self, documents: list[Document]) -> None:
        import bm25s  # imported here: numpy and bm25s load once, at app start-up

        # bm25s sets its logger to DEBUG on import and logs every index build: keep only its errors.
        logging.getLogger("bm25s").setLevel(logging.ERROR)

        if not documents:
            raise ValueError("the corpus is empty")
        self._bm25s: Any = bm25s
        self.documents = documents
        tokens = bm25s.tokenize([f"{d.title}. {d.text}" for d in documents], stopwords="en", show_progress=False)
        self._retriever = bm25s.BM25()
        self._retriever.index(tokens, show_progress=False)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best documents for ``query`` (fewer when fewer match at all)."""
        query_tokens = self._bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        if not query_tokens or not query_tokens[0]:
            return []
        k = min(k, len(self.documents))
        ids, scores = self._retriever.retrieve(query_tokens, k=k, show_progress=False)
        return [Hit(self.documents[int(i)], float(s)) for i, s in zip(ids[0], scores[0], strict=True) if float(s) > 0.0]
