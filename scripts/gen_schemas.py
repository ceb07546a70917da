"""Write the JSON Schemas of the YAML kinds to wloadctl/schemas/ (shipped with the package).

Usage: python scripts/gen_schemas.py [--out DIR]

The schemas come from wloadctl/model/schemas.py, their one source; `wloadctl schema KIND` prints
the same text. tests/unit/test_document_schemas.py fails when the shipped files are stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "wloadctl" / "schemas"


def generate(out_dir: Path) -> list[Path]:
    """Write one file per kind, and one for every kind at once; returns the paths written."""
    sys.path.insert(0, str(ROOT))
    from wloadctl.model import schemas

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in (*schemas.KINDS, schemas.ALL):
        target = out_dir / schemas.file_name(kind)
        target.write_text(schemas.render(kind), encoding="ascii")
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for path in generate(args.out):
        print(path)


if __name__ == "__main__":
    main()
