"""One root exception; user errors (bad input) apart from provider and runtime errors."""

from __future__ import annotations


class AgentBatchError(Exception):
    """Root of every error agentbatch raises on purpose."""


class UserError(AgentBatchError):
    """The caller asked for something invalid. Maps to a 4xx; nothing was changed."""

    status_code = 400
    code = "invalid_request"


class InvalidInput(UserError):
    """Malformed or inconsistent input (validation failed before any write)."""

    status_code = 422
    code = "invalid_input"


class Forbidden(UserError):
    """The server's configuration does not allow this (for example custom tools without
    an isolating sandbox)."""

    status_code = 403
    code = "forbidden"


class NotFound(UserError):
    """The referenced object does not exist (or belongs to another organisation)."""

    status_code = 404
    code = "not_found"


class Conflict(UserError):
    """The object is in a state that does not allow the operation."""

    status_code = 409
    code = "conflict"


class ProviderError(AgentBatchError):
    """A model provider call failed.

    ``retryable`` tells the runtime whether another try may succeed (network, 5xx, 429);
    ``retry_after`` is the provider's hint in seconds, when it gave one.
    """

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class UnknownBatch(ProviderError):
    """The provider does not know this batch handle (for example after a restart)."""


class ConfigError(AgentBatchError):
    """Configuration is missing or invalid (for example an API key)."""


class ProviderConfigError(ProviderError, ConfigError):
    """The provider refused our configuration (a rejected API key, a base URL that is no
    provider): no retry can help until an operator fixes the setting."""
