"""Request dependencies: the store (opened by the app's lifespan) and the caller's org.

Every route takes the organisation from here and passes it to the services, which scope
every read and write to it: another organisation's ids are simply "not found" (404)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentbatch.api.errors import Unauthorized
from agentbatch.app import DEFAULT_ORG, AgentBatch
from agentbatch.keys import verify_key

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `agentbatch keys create`: `Authorization: Bearer abk_...`",
)


@dataclass(frozen=True)
class AuthMode:
    enabled: bool = True
    default_org: str = DEFAULT_ORG


def get_batch(request: Request) -> AgentBatch:
    batch: AgentBatch | None = getattr(request.app.state, "batch", None)
    if batch is None:
        raise RuntimeError("the app was started without its lifespan (the store is not open)")
    return batch


async def current_org(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    mode: AuthMode = request.app.state.auth
    if not mode.enabled:
        return mode.default_org
    if credentials is None:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    org_id = await verify_key(get_batch(request).db, credentials.credentials)
    if org_id is None:
        raise Unauthorized("invalid or revoked API key")
    return org_id


Batch = Annotated[AgentBatch, Depends(get_batch)]
Org = Annotated[str, Depends(current_org)]
