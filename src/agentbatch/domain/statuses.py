"""Status values of jobs, runs and provider batches."""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


JOB_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    WAITING_MODEL = "waiting_model"
    WAITING_TOOLS = "waiting_tools"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUN_ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.WAITING_MODEL, RunStatus.WAITING_TOOLS})
RUN_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


class BatchStatus(enum.StrEnum):
    """A provider batch as agentbatch tracks it."""

    SUBMITTING = "submitting"  # rows written, provider call not yet confirmed
    IN_PROGRESS = "in_progress"  # provider accepted it; being polled
    INGESTED = "ingested"  # ended at the provider and every result applied
    FAILED = "failed"  # could not be created (its items were charged an attempt)
    CANCELED = "canceled"


BATCH_OPEN = frozenset({BatchStatus.SUBMITTING, BatchStatus.IN_PROGRESS})
