"""Archival memory: passages per archive (an agent's own, or one shared by name), inserted
in the apply transaction and searched by embedding.

Search, nearest first by cosine similarity (vectors are unit length):

* SQLite with the sqlite-vec extension loaded: ``vec_distance_cosine`` in SQL;
* PostgreSQL with the pgvector extension installed: ``embedding::vector <=> query``;
* otherwise an exact search here: the archive's vectors are read (once; a worker keeps
  them while the archive's largest id stays the same) and scored with numpy
  (10,000 passages of 64 dimensions are 2.5 MB).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.embeddings import from_blob, to_blob
from agentbatch.store.bulk import Op, insert_op
from agentbatch.store.db import Database
from agentbatch.store.tables import passages


def own_archive(agent_id: str) -> str:
    return f"agent:{agent_id}"


def shared_archive(name: str) -> str:
    return f"shared:{name}"


def archive_of(agent_id: str, shared: str | None) -> str:
    return shared_archive(shared) if shared else own_archive(agent_id)


def insert_ops(rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    """Rows carry ``embedding`` as float32 bytes; PostgreSQL stores a real[]."""
    if not rows:
        return []
    if dialect != "sqlite":
        rows = [{**r, "embedding": from_blob(r["embedding"]).tolist()} for r in rows]
    return insert_op(passages, rows, dialect)


async def _pgvector(conn: AsyncConnection, db: Database) -> bool:
    if db.vector_search is None:
        found = await conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        db.vector_search = found.first() is not None
    return bool(db.vector_search)


async def search(
    conn: AsyncConnection,
    db: Database,
    *,
    org_id: str,
    archive: str,
    model: str,
    query: np.ndarray,
    offset: int,
    limit: int,
) -> list[tuple[int, str, datetime, float]]:
    """(id, text, created_at, similarity) of the passages nearest ``query``."""
    where = (
        passages.c.org_id == org_id,
        passages.c.archive == archive,
        passages.c.embedding_model == model,
    )
    if db.is_sqlite and db.vector_search:
        distance = func.vec_distance_cosine(passages.c.embedding, to_blob(query))
        rows = await conn.execute(
            select(passages.c.id, passages.c.text, passages.c.created_at, distance)
            .where(*where)
            .order_by(distance, passages.c.id)
            .offset(offset)
            .limit(limit)
        )
        return [(r[0], r[1], r[2], 1.0 - float(r[3])) for r in rows]
    if not db.is_sqlite and await _pgvector(conn, db):
        literal = "[" + ",".join(f"{x:.7g}" for x in query.tolist()) + "]"
        rows = await conn.exec_driver_sql(
            "SELECT id, text, created_at, (embedding::vector <=> $1::vector) AS d FROM passages "
            "WHERE org_id = $2 AND archive = $3 AND embedding_model = $4 "
            "ORDER BY d, id OFFSET $5 LIMIT $6",
            (literal, org_id, archive, model, offset, limit),
        )
        return [(r[0], r[1], r[2], 1.0 - float(r[3])) for r in rows]
    key = (db.url, org_id, archive, model)
    return await _exact(conn, where, key, query, offset, limit, sqlite=db.is_sqlite)


class _Matrices:
    """The exact search's vectors per archive, kept between searches (an archive only
    grows, or goes away whole: its largest id tells whether a copy is current). Bounded by
    ``capacity`` archives."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[Any, ...], tuple[int, int, np.ndarray, np.ndarray]] = (
            OrderedDict()
        )

    def get(self, key: tuple[Any, ...], n: int, top: int) -> tuple[np.ndarray, np.ndarray] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] != n or entry[1] != top:
            return None
        self._entries.move_to_end(key)
        return entry[2], entry[3]

    def put(self, key: tuple[Any, ...], n: int, top: int, ids: np.ndarray, m: np.ndarray) -> None:
        self._entries[key] = (n, top, ids, m)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


_MATRICES = _Matrices()


def _pg_vectors(blobs: list[bytes]) -> np.ndarray:
    """``array_send(real[])`` values: a 20-byte header, then (length, big-endian float)
    per element."""
    body = b"".join(b[20:] for b in blobs)
    return np.frombuffer(body, dtype=">f4").reshape(-1, 2)[:, 1].astype(np.float32)


async def _matrix(
    conn: AsyncConnection, where: Any, key: tuple[Any, ...], sqlite: bool
) -> tuple[np.ndarray, np.ndarray]:
    # passages are only inserted (ids grow) or deleted with their whole archive: the
    # largest id alone tells whether a kept copy is current (one index probe)
    top = (await conn.execute(select(func.max(passages.c.id)).where(*where))).scalar()
    found = _MATRICES.get(key, 0, int(top or 0))
    if found is not None:
        return found
    column = passages.c.embedding if sqlite else func.array_send(passages.c.embedding)
    rows = (await conn.execute(select(passages.c.id, column).where(*where))).all()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    if sqlite:
        flat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4")
    else:
        flat = _pg_vectors([r[1] for r in rows])
    matrix = flat.reshape(len(rows), -1) if rows else np.zeros((0, 0), dtype=np.float32)
    _MATRICES.put(key, 0, int(ids.max()) if len(rows) else 0, ids, matrix)
    return ids, matrix


async def _exact(
    conn: AsyncConnection,
    where: Any,
    key: tuple[Any, ...],
    query: np.ndarray,
    offset: int,
    limit: int,
    *,
    sqlite: bool,
) -> list[tuple[int, str, datetime, float]]:
    ids, matrix = await _matrix(conn, where, key, sqlite)
    if not len(ids) or matrix.shape[1] != query.shape[0]:
        return []
    # einsum, not BLAS: a threaded gemv spins badly on a busy machine; this is ~0.5 ms
    scores = np.einsum("ij,j->i", matrix, query.astype(np.float32))
    want = min(len(ids), offset + limit)
    top = np.argpartition(-scores, want - 1)[:want] if want < len(ids) else np.arange(len(ids))
    order = sorted(top.tolist(), key=lambda i: (-scores[i], ids[i]))[offset:want]
    if not order:
        return []
    chosen = [int(ids[i]) for i in order]
    texts = {
        r[0]: (r[1], r[2])
        for r in await conn.execute(
            select(passages.c.id, passages.c.text, passages.c.created_at).where(
                passages.c.id.in_(chosen)
            )
        )
    }
    return [(pid, *texts[pid], float(scores[i])) for pid, i in zip(chosen, order, strict=True)]


async def count(conn: AsyncConnection, org_id: str, archive: str) -> int:
    found = await conn.execute(
        select(func.count()).where(passages.c.org_id == org_id, passages.c.archive == archive)
    )
    return int(found.scalar_one())


async def delete_archive(conn: AsyncConnection, org_id: str, archive: str) -> None:
    await conn.execute(
        delete(passages).where(passages.c.org_id == org_id, passages.c.archive == archive)
    )


async def insert_now(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Outside the step cycle (benchmarks, imports): insert passages in bulk."""
    from agentbatch.store.bulk import run_ops

    await run_ops(conn, insert_ops(rows, conn.dialect.name))
