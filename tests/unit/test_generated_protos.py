"""The committed generated code must match protos/ (regenerate: python scripts/gen_protos.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_protos"] = module
    spec.loader.exec_module(module)
    written = module.generate(tmp_path)
    committed = ROOT / "wloadctl" / "proto" / "v1"
    stale = [p.name for p in written if (committed / p.name).read_text() != p.read_text()]
    extra = {p.name for p in committed.iterdir() if p.suffix in (".py", ".pyi")} - {p.name for p in written}
    assert not stale and not extra, (
        f"generated code is stale ({stale or sorted(extra)}): run python scripts/gen_protos.py")
