"""Emulator of Gemini Batch Mode and the Files API, for tests and demos."""

from agentbatch.testing.google.app import GoogleEmulator

__all__ = ["GoogleEmulator"]
