"""The Anthropic Message Batches emulator; it lives in :mod:`agentbatch.testing.anthropic`."""

from agentbatch.testing.anthropic import AnthropicEmulator, fault_plan_from_json

__all__ = ["AnthropicEmulator", "fault_plan_from_json"]
