"""The OpenAI batch emulator (implementation in :mod:`agentbatch.testing.openai`)."""

from agentbatch.testing.openai import OpenAIEmulator

__all__ = ["OpenAIEmulator"]
