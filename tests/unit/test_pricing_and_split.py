"""Job cost (batch discount, cache savings) and splitting prepared requests at limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentbatch.pricing import DEFAULT_PRICES, Price, PriceTable
from agentbatch.runtime.submit import Prepared, split_by_limits
from agentbatch.runtime.submit import payload_size as _payload_size

# -- pricing ----------------------------------------------------------------------------------


@dataclass
class Row:
    model: str
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cache_read_tokens: int | None = 0
    cache_write_tokens: int | None = 0


TABLE = PriceTable({"p/m": Price(input=2.0, output=10.0, cache_read=0.2, cache_write=2.5)})


def test_batch_discount_halves_cost() -> None:
    cost = TABLE.job_cost([Row("p/m", input_tokens=1_000_000, output_tokens=100_000)])
    live = 2.0 + 1.0
    assert cost["live_usd"] == pytest.approx(live)
    assert cost["usd"] == pytest.approx(live / 2)
    assert cost["batch_savings_usd"] == pytest.approx(live / 2)
    assert cost["cache_savings_usd"] == pytest.approx(0.0)
    assert cost["unpriced_models"] == []


def test_cache_reads_give_positive_savings() -> None:
    cost = TABLE.job_cost(
        [Row("p/m", input_tokens=100_000, output_tokens=10_000, cache_read_tokens=900_000)]
    )
    # billed: 0.1M*2 + 0.01M*10 + 0.9M*0.2 = 0.2 + 0.1 + 0.18 = 0.48 list, 0.24 batch
    assert cost["live_usd"] == pytest.approx(0.48)
    assert cost["usd"] == pytest.approx(0.24)
    # uncached: (0.1M + 0.9M)*2 + 0.1 = 2.1 list, 1.05 batch
    assert cost["cache_savings_usd"] == pytest.approx(1.05 - 0.24)
    assert cost["cache_savings_usd"] > 0


def test_cache_writes_cost_more_than_plain_input() -> None:
    cost = TABLE.job_cost([Row("p/m", cache_write_tokens=1_000_000)])
    assert cost["usd"] == pytest.approx(2.5 / 2)
    assert cost["cache_savings_usd"] < 0  # writing without reading back is a loss


def test_unpriced_models_listed_once_and_cost_nothing() -> None:
    rows = [
        Row("scripted/test", input_tokens=50, output_tokens=5),
        Row("local/smollm2", input_tokens=1),
        Row("scripted/test", input_tokens=7),
        Row("ghost/unused"),  # no tokens: not listed
        Row("p/m", input_tokens=1_000_000),
    ]
    cost = TABLE.job_cost(rows)
    assert cost["unpriced_models"] == ["local/smollm2", "scripted/test"]
    assert cost["usd"] == pytest.approx(1.0)


def test_none_token_counts_are_zero() -> None:
    cost = TABLE.job_cost([Row("p/m", None, None, None, None)])
    assert cost["usd"] == 0.0


def test_rows_for_several_models_add_up() -> None:
    table = PriceTable(DEFAULT_PRICES)
    rows = [
        Row("anthropic/claude-sonnet-4-5", input_tokens=1_000_000),
        Row("openai/gpt-4.1-mini", output_tokens=1_000_000),
    ]
    assert table.job_cost(rows)["usd"] == pytest.approx((3.0 + 1.6) / 2)


def test_empty_job_costs_nothing() -> None:
    assert TABLE.job_cost([]) == {
        "usd": 0.0,
        "live_usd": 0.0,
        "batch_savings_usd": 0.0,
        "cache_savings_usd": 0.0,
        "unpriced_models": [],
    }


def test_load_overrides_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTBATCH_PRICES", raising=False)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"x/y": {"input": 4, "output": 8, "batch_discount": 0.25}}))
    table = PriceTable.load(str(path))
    price = table.prices["x/y"]
    assert price.cache_read == pytest.approx(0.4)
    assert price.cache_write == pytest.approx(5.0)
    assert table.job_cost([Row("x/y", input_tokens=1_000_000)])["usd"] == pytest.approx(3.0)
    assert "anthropic/claude-sonnet-4-5" in table.prices  # defaults kept


# -- split_by_limits --------------------------------------------------------------------------


def prepared(i: int, size: int = 10) -> Prepared:
    return Prepared(
        run_id=f"run{i}",
        run_fence=1,
        item_id=f"item{i}",
        step=0,
        attempt=1,
        entry={"custom_id": f"item{i}"},
        size=size,
        new_messages=[],
    )


def ids(groups: list[list[Prepared]]) -> list[list[int]]:
    return [[int(p.run_id[3:]) for p in g] for g in groups]


def test_no_items_no_groups() -> None:
    assert split_by_limits([], 10, 1000) == []


def test_within_limits_one_group() -> None:
    items = [prepared(i) for i in range(5)]
    groups = split_by_limits(items, 5, 50)
    assert ids(groups) == [[0, 1, 2, 3, 4]]


def test_splits_on_request_count() -> None:
    groups = split_by_limits([prepared(i) for i in range(7)], 3, 10**9)
    assert ids(groups) == [[0, 1, 2], [3, 4, 5], [6]]


def test_splits_on_bytes() -> None:
    groups = split_by_limits([prepared(i, size=40) for i in range(5)], 100, 100)
    assert ids(groups) == [[0, 1], [2, 3], [4]]
    assert all(sum(p.size for p in g) <= 100 for g in groups)


def test_bytes_exactly_at_limit_fit() -> None:
    groups = split_by_limits([prepared(i, size=25) for i in range(4)], 100, 100)
    assert ids(groups) == [[0, 1, 2, 3]]


def test_oversized_item_goes_alone() -> None:
    items = [prepared(0, 10), prepared(1, 10), prepared(2, 500), prepared(3, 10)]
    groups = split_by_limits(items, 100, 100)
    assert ids(groups) == [[0, 1], [2], [3]]


def test_oversized_first_item_goes_alone() -> None:
    groups = split_by_limits([prepared(0, 500), prepared(1, 10)], 100, 100)
    assert ids(groups) == [[0], [1]]


def test_order_preserved_and_nothing_lost_under_both_limits() -> None:
    sizes = [5, 60, 30, 30, 90, 1, 1, 1, 1, 200, 40]
    items = [prepared(i, s) for i, s in enumerate(sizes)]
    groups = split_by_limits(items, 3, 100)
    flat = [p for g in groups for p in g]
    assert flat == items
    for g in groups:
        assert len(g) <= 3
        assert len(g) == 1 or sum(p.size for p in g) <= 100


def test_payload_size_counts_encoded_bytes_plus_newline() -> None:
    entry = {"custom_id": "x", "text": "é"}
    expected = len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()) + 1
    assert _payload_size(entry) == expected
    assert _payload_size({"t": "é"}) == len('{"t":"é"}'.encode()) + 1
