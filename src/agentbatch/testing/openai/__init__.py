"""Emulator of the OpenAI Files + Batches API (and chat completions), for tests and demos."""

from agentbatch.testing.openai.app import OpenAIEmulator

__all__ = ["OpenAIEmulator"]
