"""Input validated through the pydantic models of ``schemas``: a clear ``InvalidInput`` that
names each bad field (with "did you mean" for near misses), never a traceback."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from agentbatch.errors import InvalidInput
from agentbatch.validation_text import describe_all


def pydantic_message(exc: ValidationError, allowed: Any = ()) -> str:
    return describe_all(exc.errors(), allowed)


def parse_model(model_cls: Any, data: Any) -> Any:
    if isinstance(data, model_cls):
        return data
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(pydantic_message(exc, model_cls.model_fields)) from None
