"""Emulator of the Mistral Batch API (``/v1/batch/jobs``, inline or file input) and the
Files API it uses, for tests and demos (implementation in :mod:`.app`)."""

from agentbatch.testing.mistral.app import MistralEmulator
from agentbatch.testing.mistral.dialect import mistral_problem
from agentbatch.testing.mistral.objects import ENDED, Job

__all__ = ["ENDED", "Job", "MistralEmulator", "mistral_problem"]
