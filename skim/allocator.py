"""Keep freed memory in the process instead of handing it back to the OS (glibc's allocator, Linux).

PyTorch on the CPU frees and allocates the same large buffers at every layer of every step. By default glibc
serves a buffer over its mmap threshold (128 KB, growing to at most 32 MB) with a fresh `mmap` and unmaps it on
free, so the next step faults every page in again, zeroed by the kernel. A batch-16 training step here allocates
several such buffers (one layer's attention probabilities are 113 MB): a third of the run's CPU time was kernel
time, 80,000 minor page faults a second, and with the memory kept the same 14 steps took 7.95 s each instead of
13.2 s. Intel's PyTorch CPU guide gets the same by preloading jemalloc or tcmalloc; `mallopt` needs no install.
The price: the process keeps its peak memory until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
LARGEST = 2**31 - 1  # mallopt takes a C int


def keep_freed_memory() -> bool:
    """Serve every allocation under 2 GB from the heap and never trim it. True where glibc took both settings;
    False elsewhere (macOS, Windows, musl), which then run as before."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LARGEST)) and bool(mallopt(M_TRIM_THRESHOLD, LARGEST))
