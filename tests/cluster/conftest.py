"""Clustering tests run on small matrices: one BLAS/OpenMP thread avoids contention on shared CPUs."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    with threadpool_limits(limits=1):
        yield
