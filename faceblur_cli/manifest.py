"""The run manifest (``--manifest FILE``): one JSON line per planned input, appended as each finishes.

Why JSON Lines, appended and flushed row by row: an interrupted run keeps every row it finished
(a half-written last line is ignored on reading), and the same command started again reads the
file, skips the inputs whose output it records as written and still exists, and appends the rest.
The latest row for an input wins. Columns: input, output, status (written / skipped / failed),
faces, error, ms, model, sha256, time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

STATUSES = ("written", "skipped", "failed")


class Manifest:
    def __init__(self, path: Path, model: str, sha256: str):
        self.path, self.model, self.sha256 = Path(path), model, sha256
        if self.path.is_dir():
            raise ValueError(f"--manifest {path}: is a folder; name a .jsonl file")
        self.written: dict[str, dict] = {}  # output -> the row that wrote it, from earlier runs
        for row in read_rows(self.path):
            if row.get("status") == "written":
                self.written[row["output"]] = row
            else:
                self.written.pop(row.get("output", ""), None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = None

    def done(self, output: str, exists: Callable[[str], bool] = os.path.exists) -> bool:
        """True when an earlier run recorded ``output`` as written and it is still there."""
        return output in self.written and exists(output)

    def record(self, input: str, output: str, status: str, faces: int = 0, error: str = "", ms: float = 0.0) -> None:
        assert status in STATUSES, status
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        row = {
            "input": str(input),
            "output": str(output),
            "status": status,
            "faces": int(faces),
            "error": error,
            "ms": round(float(ms), 1),
            "model": self.model,
            "sha256": self.sha256,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_rows(path: Path) -> list[dict]:
    """The manifest's rows; a torn last line (the run was killed while writing it) is skipped."""
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "output" in row:
                rows.append(row)
    return rows
