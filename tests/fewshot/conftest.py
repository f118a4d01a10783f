"""Few-shot tests run on tiny matrices: one BLAS / torch thread avoids contention on shared CPUs."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    try:
        import torch
    except ImportError:
        torch = None
    previous = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    if torch:
        torch.set_num_threads(previous)
