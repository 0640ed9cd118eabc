"""Resident memory of this process, for the long-running benchmarks."""

from __future__ import annotations

import os


def rss_mb() -> float:
    """Resident memory now (Linux /proc; elsewhere the peak, which can only show growth)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
