"""Peak-memory bookkeeping shared by the benchmarks (Linux /proc)."""

from __future__ import annotations


def reset_peak() -> None:
    """Resets this process's peak RSS (VmHWM) to its current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def status_mib(field: str) -> float:
    """A /proc/self/status memory field (``VmRSS``, ``VmHWM``) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0
