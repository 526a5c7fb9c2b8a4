"""glibc's allocator kept from handing large freed CPU tensors back to the OS after every op.

torch's CPU allocator is ``malloc``. With glibc's defaults a freed block of a few MiB (a ``[K x N, 128]`` float
activation of a population, or of one agent at 4,096+ envs) goes back to the OS, by ``munmap`` or by trimming the
heap top, and the next op's output page-faults all of it in again: the kernel's zeroing of fresh pages then costs
more than the op. :func:`keep_freed_memory` raises glibc's mmap threshold to its maximum and its trim threshold far
above it, so freed blocks stay in the heap for the next allocation. Numbers are unchanged; the process keeps its peak
heap instead of shrinking after it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters of glibc's <malloc.h>
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit of M_MMAP_THRESHOLD on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of free heap top before returning it to the OS


def keep_freed_memory() -> bool:
    """Set glibc's ``M_MMAP_THRESHOLD`` to 32 MiB and ``M_TRIM_THRESHOLD`` to 1 GiB for this process (both at once:
    setting either one turns off glibc's own adaptive thresholds). Returns whether both were set; False (nothing
    changed) off Linux or with another C library."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (musl's mallopt ignores these)
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                                          TRIM_THRESHOLD))
