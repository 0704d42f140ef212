"""Small test helpers (importable: tests/ is on sys.path via conftest's rootdir)."""

import hashlib
from pathlib import Path


def file_hashes(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob("*")) if p.is_file()}
