"""The resource limits of one sandboxed program."""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Per-program limits. Wall time is enforced by the parent; the rest by setrlimit in the child."""

    wall_s: float = 10.0
    cpu_s: float = 10.0
    memory_bytes: int = 4 * GiB  # address space (RLIMIT_AS); LCB's comment names 4 GB
    file_bytes: int = 16 * MiB  # largest file the program may write (RLIMIT_FSIZE), stdout included
    disk_bytes: int = 64 * MiB  # size of its private tmpfs working directory
    processes: int = 32  # tasks (processes and threads) of its uid (RLIMIT_NPROC)
    open_files: int = 256
    output_bytes: int = 1 * MiB  # how much of stdout/stderr is read back
