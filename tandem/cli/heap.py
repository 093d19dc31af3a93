"""Keep freed memory in the process for reuse (glibc malloc), for batch commands whose
numpy work allocates and frees arrays of tens of MB many times over.

glibc serves an allocation above its mmap threshold (at most 32 MiB) from a fresh
mapping and unmaps it when freed, so each such array is page-faulted and zeroed again by
the kernel; at millions of rows that costs more CPU than the work. :func:`keep_freed_memory`
asks malloc to serve every allocation from its heap and never to give freed memory back
to the kernel: memory is faulted once, up to the command's peak, then reused. A command
process only (it changes the whole process's allocator); a no-op where the C library has
no ``mallopt`` (musl, macOS).
"""

from __future__ import annotations

import ctypes

__all__ = ["keep_freed_memory"]

# glibc <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
#: Heap top kept when freed (the largest value mallopt takes: 2 GiB - 1).
_TRIM = 2**31 - 1
#: Grow the heap this much past each need (fewer brk calls).
_TOP_PAD = 64 * 2**20


def keep_freed_memory() -> bool:
    """Serve allocations from malloc's heap and keep freed memory for reuse; True when the
    C library took the settings."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_MAX, 0)
        and mallopt(_M_TRIM_THRESHOLD, _TRIM)
        and mallopt(_M_TOP_PAD, _TOP_PAD)
    )
