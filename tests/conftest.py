"""Shared fixtures: real replica processes on loopback, always stopped by pid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wloadctl.testing.cluster import LocalCluster


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator:
    clusters: list[LocalCluster] = []

    def make(size: int = 3, **kwargs: object) -> LocalCluster:
        c = LocalCluster(tmp_path / f"cluster{len(clusters)}", size=size, **kwargs)  # type: ignore[arg-type]
        clusters.append(c)
        return c

    yield make
    for c in clusters:
        c.stop()
