"""A labelled archival-memory fixture and its benchmark (``agentbatch bench --archival``).

The fixture: ``n`` passages in one agent's archive: a few labelled targets, each with a
question worded differently from its passage, among generated everyday notes (meetings,
orders, weather, chores). The benchmark inserts them, then times each labelled search as
the tool runs it (embed the query, search the archive) and checks the target comes first.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agentbatch.embeddings import embedder_for, to_blob
from agentbatch.ids import utcnow
from agentbatch.store import passages
from agentbatch.store.db import Database

TARGETS = [
    (
        "The spare key to the boathouse hangs behind the barometer in the hallway.",
        "where is the boathouse key",
    ),
    (
        "Marguerite is severely allergic to shellfish and carries an epinephrine pen.",
        "is Marguerite allergic to anything",
    ),
    ("The wifi password for the cottage is lighthouse-4417.", "cottage wifi password"),
    (
        "Our telescope's eyepiece was sent to Rotterdam for repair in March.",
        "what happened to the telescope eyepiece",
    ),
    (
        "Grandfather's violin is insured by Halvorsen Mutual for eight thousand euros.",
        "who insures the violin",
    ),
    (
        "The vegetable garden gets watered at dawn because the afternoons are too hot.",
        "when should the garden be watered",
    ),
    (
        "Priya's thesis defence is scheduled for the fourteenth of November.",
        "date of Priya's thesis defence",
    ),
    (
        "The printer on the third floor jams whenever glossy paper is loaded.",
        "why does the printer jam",
    ),
    (
        "Zoltan prefers his coffee black with a pinch of cardamom.",
        "how does Zoltan take his coffee",
    ),
    ("The emergency generator needs diesel, not petrol.", "what fuel does the generator use"),
]
_WHO = ["Alex", "Sam", "the team", "our manager", "the client", "Jordan", "the supplier", "Kim"]
_WHAT = [
    "moved the weekly meeting to",
    "asked for the quarterly report by",
    "ordered new office chairs for",
    "booked the conference room for",
    "confirmed the delivery of paper towels on",
    "postponed the budget review until",
    "reported a light drizzle expected on",
    "scheduled the window cleaning for",
]
_WHEN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "next week", "the 3rd", "noon"]
_EXTRA = ["", " as usual", " again", " after lunch", " before the holidays", " with a reminder"]


def fixture(n: int) -> tuple[list[str], list[tuple[str, int]]]:
    """(passages, [(question, index of its passage)]): deterministic."""
    texts: list[str] = []
    for i in range(max(0, n - len(TARGETS))):
        texts.append(
            f"Note {i}: {_WHO[i % 8]} {_WHAT[(i // 8) % 8]} {_WHEN[(i // 64) % 8]}"
            f"{_EXTRA[(i // 512) % 6]}."
        )
    queries = []
    step = max(1, len(texts) // len(TARGETS))
    for j, (text, question) in enumerate(TARGETS):
        at = min(len(texts), j * step + j)
        texts.insert(at, text)
        queries.append((question, at))
    return texts, queries


async def load_fixture(
    db: Database, org_id: str, archive: str, texts: list[str], embedder_spec: str = "local"
) -> str:
    embedder = embedder_for(embedder_spec)
    vectors = await embedder.embed(texts)
    now = utcnow()
    rows = [
        {
            "org_id": org_id,
            "archive": archive,
            "agent_id": None,
            "run_id": None,
            "text": t,
            "embedding_model": embedder.name,
            "embedding": to_blob(v),
            "created_at": now,
        }
        for t, v in zip(texts, vectors, strict=True)
    ]
    async with db.write() as conn:
        for start in range(0, len(rows), 2000):
            await passages.insert_now(conn, rows[start : start + 2000])
    return embedder.name


async def run_archival_bench(database_url: str | None, n: int, rounds: int = 5) -> dict[str, Any]:
    from agentbatch.store import migrate

    tmp = None
    if database_url is None:
        tmp = tempfile.mkdtemp(prefix="agentbatch-archival-")
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
    db = Database(database_url)
    await migrate.upgrade(db)
    archive = passages.own_archive(f"bench-{time.time_ns()}")
    texts, queries = fixture(n)
    started = time.perf_counter()
    model = await load_fixture(db, "bench", archive, texts)
    insert_s = time.perf_counter() - started
    embedder = embedder_for("local")
    timings: list[float] = []
    first = 0
    for r in range(rounds):
        for question, index in queries:
            t0 = time.perf_counter()
            vector = (await embedder.embed([question]))[0]
            async with db.read() as conn:
                hits = await passages.search(
                    conn,
                    db,
                    org_id="bench",
                    archive=archive,
                    model=model,
                    query=vector,
                    offset=0,
                    limit=5,
                )
            timings.append((time.perf_counter() - t0) * 1000)
            if r == 0 and hits and hits[0][1] == texts[index]:
                first += 1
    async with db.write() as conn:
        await passages.delete_archive(conn, "bench", archive)
    vector_search = bool(db.vector_search)
    await db.dispose()
    timings.sort()
    return {
        "database": db.dialect,
        "passages": len(texts),
        "search": "sqlite-vec"
        if db.is_sqlite and vector_search
        else ("pgvector" if vector_search else "exact (numpy)"),
        "embedder": model,
        "insert_s": round(insert_s, 2),
        "queries": len(timings),
        "target_first": f"{first}/{len(queries)}",
        "median_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
        "max_ms": round(timings[-1], 2),
    }
