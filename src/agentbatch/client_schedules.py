"""The HTTP client's schedule and selector endpoints (``Client`` and ``AsyncClient`` have
them through ``_Endpoints``)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar
from urllib.parse import quote

R = TypeVar("R")


def _p(value: str) -> str:
    return quote(value, safe="")


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class ScheduleEndpoints(Generic[R]):
    def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> R:
        raise NotImplementedError

    def create_schedule(self, spec: dict[str, Any]) -> R:
        return self._call("POST", "/v1/schedules", json=spec)

    def list_schedules(self, *, limit: int | None = None, cursor: str | None = None) -> R:
        return self._call("GET", "/v1/schedules", params=_params(limit=limit, cursor=cursor))

    def get_schedule(self, schedule_id: str) -> R:
        return self._call("GET", f"/v1/schedules/{_p(schedule_id)}")

    def pause_schedule(self, schedule_id: str) -> R:
        return self._call("POST", f"/v1/schedules/{_p(schedule_id)}/pause")

    def resume_schedule(self, schedule_id: str) -> R:
        return self._call("POST", f"/v1/schedules/{_p(schedule_id)}/resume")

    def delete_schedule(self, schedule_id: str) -> R:
        return self._call("DELETE", f"/v1/schedules/{_p(schedule_id)}")

    def create_selector(self, name: str, agents: dict[str, Any]) -> R:
        return self._call("POST", "/v1/selectors", json={"name": name, "agents": agents})

    def get_selector(self, name: str) -> R:
        return self._call("GET", f"/v1/selectors/{_p(name)}")

    def list_selectors(self) -> R:
        return self._call("GET", "/v1/selectors")

    def delete_selector(self, name: str) -> R:
        return self._call("DELETE", f"/v1/selectors/{_p(name)}")
