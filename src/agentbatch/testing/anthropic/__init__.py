"""A protocol-faithful emulator of the Anthropic Message Batches API (for tests and demos).

``AnthropicEmulator(script, faults, clock)`` has ``.app`` (ASGI) and ``.serve()`` (a started
:class:`~agentbatch.testing.server.BackgroundServer`); point the official SDK at it with
``AsyncAnthropic(base_url=srv.url, api_key="test")``.
"""

from agentbatch.testing.anthropic.emulator import AnthropicEmulator, error_result
from agentbatch.testing.anthropic.routes import fault_plan_from_json

__all__ = ["AnthropicEmulator", "error_result", "fault_plan_from_json"]
