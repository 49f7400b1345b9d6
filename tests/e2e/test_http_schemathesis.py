"""Property-based API testing: schemathesis generates requests from the OpenAPI spec
(valid and invalid ones) and sends them, with a valid key, to a live server. No request may
produce a server error, and every response must match the documented schema.

The spec is built from an app object that is never started (``app.openapi()`` is exactly
what ``/openapi.json`` serves; a test checks that): schemathesis' lazy
``from_fixture`` loader does not work with pytest 9, and a module-level loader needs the
spec at import time."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agentbatch.api import ApiConfig, create_app
from agentbatch.api.server import ThreadedServer
from agentbatch.client import Client
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted import ScriptedProvider
from tests.e2e.http_support import mint_keys, serve

MAX_EXAMPLES = int(os.environ.get("AGENTBATCH_FUZZ_EXAMPLES", "15"))
# Not the checks that judge input semantics: pydantic's lax mode accepts 0 for false
# (negative_data_rejection), and a schema-valid job naming unknown agents is rightly a 422
# (positive_data_acceptance).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedServer, str]]:
    root = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite+aiosqlite:///{root / 'api.db'}"
    (key,) = mint_keys(url, "fuzz")
    registry = ProviderRegistry({"scripted": ScriptedProvider(root / "scripted")})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENTBATCH_ALLOW_SCRIPTED", "1")  # read when the server starts
        with serve(url, with_worker=False, registry=registry) as server:
            with Client(server.url, key) as c:  # something for reads and deletes to find
                block = c.create_block({"label": "notes", "value": "x"})
                agent = c.create_agent(
                    {"name": "seed", "model": "scripted/x", "block_ids": [block["id"]]}
                )
                c.create_job({"requests": [{"agent_id": agent["id"], "messages": "hi"}]})
            yield server, key


SPEC = create_app(ApiConfig()).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: schemathesis.Case, live_api: tuple[ThreadedServer, str]) -> None:
    server, key = live_api
    case.call_and_validate(
        base_url=server.url,
        headers={"Authorization": f"Bearer {key}"},
        checks=CHECKS,
    )


def test_the_fuzzed_spec_is_the_served_one(live_api: tuple[ThreadedServer, str]) -> None:
    server, _ = live_api
    assert httpx.get(f"{server.url}/openapi.json").json() == SPEC
    assert len(list(schema.get_all_operations())) >= 19
