"""skim/allocator.py: freed memory stays in the process, so a re-allocated large buffer costs no page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHURN = """
import resource, sys, torch
sys.path.insert(0, {repo!r})
from skim.allocator import keep_freed_memory
if {keep}:
    assert keep_freed_memory()
x = torch.empty(8, 1024, 1024); x.fill_(1.0); del x  # the first touch faults in any case
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    x = torch.empty(8, 1024, 1024); x.fill_(1.0); del x  # 32 MB, as large buffers of a training step are
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_freed_large_buffer_is_reused_without_page_faults():
    from tests.conftest import REPO

    def faults(keep: bool) -> int:
        code = CHURN.format(repo=str(REPO), keep=keep)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        return int(out.stdout.split()[-1])

    default, kept = faults(False), faults(True)
    assert default > 20 * 4000  # glibc unmapped each 32 MB buffer (8,192 pages) on free: re-faulted every time
    assert kept < default / 10
