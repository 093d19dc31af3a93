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
from collections.abc import Callable
from typing import cast

__all__ = ["keep_freed_memory", "one_malloc_arena"]

# glibc <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
#: Heap top kept when freed (the largest value mallopt takes: 2 GiB - 1).
_TRIM = 2**31 - 1
#: Grow the heap this much past each need (fewer brk calls).
_TOP_PAD = 64 * 2**20


def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None where the C library has none."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return cast("Callable[[int, int], int]", mallopt)


def one_malloc_arena() -> bool:
    """Have every thread allocate from malloc's main heap (glibc's ``M_ARENA_MAX`` 1);
    True when the C library took it.

    glibc otherwise gives each thread that allocates (``tandem rate`` reads, prices and
    encodes on several) an arena of its own, which hands freed memory back to the kernel
    as soon as its top is free (``madvise``); the next batch's arrays then fault their
    pages in and have them zeroed again. On the main heap the settings of
    :func:`tandem.rating.stream.reuse_freed_memory` keep it for reuse. Call it before the
    threads start: a thread's arena is chosen at its first allocation. The arrays are few
    and large, so the shared heap's lock is rarely contended."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, 1))


def keep_freed_memory() -> bool:
    """Serve allocations from malloc's heap and keep freed memory for reuse; True when the
    C library took the settings."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(
        mallopt(_M_MMAP_MAX, 0)
        and mallopt(_M_TRIM_THRESHOLD, _TRIM)
        and mallopt(_M_TOP_PAD, _TOP_PAD)
    )
