"""Fail when a file the package reads at run time is missing from the built wheel.

Every non-Python file under src/kpi_rules (grammar, message catalogues, report templates,
py.typed) must be inside the wheel, or a non-editable install breaks at run time.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "kpi_rules"


def main(wheel: str) -> int:
    wanted = {
        "kpi_rules/" + path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    missing = sorted(wanted - inside)
    for name in missing:
        print(f"missing from {Path(wheel).name}: {name}", file=sys.stderr)
    print(f"wheel data files: {len(wanted) - len(missing)} of {len(wanted)} present")
    return 1 if missing or not wanted else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
