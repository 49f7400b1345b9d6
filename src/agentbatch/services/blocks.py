"""Memory blocks: create, read, page, update and delete (an attached block stays until it
is detached). Mixed into ``AgentService``, whose ``db`` and ``clock`` it uses."""

from __future__ import annotations

from typing import Any

from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.ids import Clock, new_id
from agentbatch.schemas import BlockCreate, BlockUpdate
from agentbatch.services.parsing import parse_model
from agentbatch.store import agents_repo as repo
from agentbatch.store.db import Database


def block_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "label": row.label,
        "value": row.value,
        "limit": row.limit,
        "description": row.description,
        "read_only": bool(row.read_only),
        "version": row.version,
    }


class BlockOperations:
    db: Database
    clock: Clock

    def _block_row(self, org_id: str, block: BlockCreate, now: Any) -> dict[str, Any]:
        if len(block.value) > block.limit:
            raise InvalidInput(
                f"block {block.label!r}: value has {len(block.value)} characters, "
                f"over its limit of {block.limit}"
            )
        return {
            "id": new_id("block"),
            "org_id": org_id,
            "label": block.label,
            "value": block.value,
            "limit": block.limit,
            "description": block.description,
            "read_only": block.read_only,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }

    async def page_blocks(
        self,
        org_id: str,
        *,
        label: str | None = None,
        after: str | None = None,
        limit: int = 100,
        all_: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        out: list[dict[str, Any]] = []
        while True:
            want = 1000 if all_ else limit - len(out)
            async with self.db.read() as conn:
                rows = await repo.list_block_rows(
                    conn, org_id, label=label, limit=want, after=after
                )
                more = (
                    await repo.count_block_rows(conn, org_id, label=label, after=rows[-1].id)
                    if rows and len(rows) == want and not all_
                    else 0
                )
            out.extend(block_out(r) for r in rows)
            if not all_ or len(rows) < want:
                return out, more
            after = rows[-1].id

    async def create_block(self, org_id: str, data: BlockCreate | dict[str, Any]) -> dict[str, Any]:
        spec: BlockCreate = parse_model(BlockCreate, data)
        row = self._block_row(org_id, spec, self.clock())
        async with self.db.write() as conn:
            await repo.insert_blocks(conn, [row])
        return await self.get_block(org_id, row["id"])

    async def get_block(self, org_id: str, block_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            rows = await repo.get_block_rows(conn, org_id, [block_id])
        if not rows:
            raise NotFound(f"block {block_id!r} not found")
        return block_out(rows[0])

    async def list_blocks(
        self, org_id: str, *, label: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await repo.list_block_rows(conn, org_id, label=label, limit=limit, after=after)
        return [block_out(r) for r in rows]

    async def update_block(
        self, org_id: str, block_id: str, data: BlockUpdate | dict[str, Any]
    ) -> dict[str, Any]:
        spec: BlockUpdate = parse_model(BlockUpdate, data)
        values = spec.model_dump(exclude_none=True)
        async with self.db.write() as conn:
            rows = await repo.get_block_rows(conn, org_id, [block_id])
            if not rows:
                raise NotFound(f"block {block_id!r} not found")
            value = values.get("value", rows[0].value)
            limit = values.get("limit", rows[0].limit)
            if len(value) > limit:
                raise InvalidInput(
                    f"value has {len(value)} characters, over the block's limit of {limit}"
                )
            if values:
                await repo.update_block_row(conn, org_id, block_id, values, self.clock())
        return await self.get_block(org_id, block_id)

    async def delete_block(self, org_id: str, block_id: str) -> None:
        async with self.db.write() as conn:
            if not await repo.get_block_rows(conn, org_id, [block_id]):
                raise NotFound(f"block {block_id!r} not found")
            attached = await repo.block_attachment_count(conn, block_id)
            if attached:
                from agentbatch.store.agent_edits import agents_with_block

                users = await agents_with_block(conn, block_id)
                shown = ", ".join(f"{u.name} ({u.id})" for u in users)
                raise Conflict(
                    f"block {block_id!r} is attached to {attached} agent(s): {shown}"
                    f"{', ...' if attached > len(users) else ''}; detach it first with "
                    f"`agentbatch agents detach-block AGENT {block_id}` "
                    "(HTTP: DELETE /v1/agents/{agent_id}/blocks/{block_id})"
                )
            await repo.delete_block_row(conn, org_id, block_id)
