"""Background jobs: typed configs, an append-only event log, local-process and Ray backends.

Typical use::

    from core.jobs import get_backend
    backend = get_backend()                       # local processes unless REASONSCOPE_JOBS_BACKEND=ray
    job_id = backend.submit("demo.probe_sweep", preset="quick", identity="ada")
    backend.events(job_id, since_seq=0)           # JobEvent list, seq increasing
"""

from core.jobs.backend import backend_for, get_backend
from core.jobs.base import JobBackend
from core.jobs.context import JobContext
from core.jobs.records import TERMINAL, JobEvent, JobRecord, JobStatus
from core.jobs.registry import ConfigError, JobType, get_job_type, job_types, register_job_type
from core.jobs.store import JobStore

__all__ = [
    "ConfigError",
    "JobBackend",
    "JobContext",
    "JobEvent",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "JobType",
    "TERMINAL",
    "backend_for",
    "get_backend",
    "get_job_type",
    "job_types",
    "register_job_type",
]
