"""One rank of a distributed run: `python -m notme.train.worker RUN_FOLDER` (started by mlx.launch)."""

from __future__ import annotations

import sys
from pathlib import Path

import mlx.core as mx

from notme.errors import NotmeError
from notme.runs.record import RunRecord
from notme.train.run import execute


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m notme.train.worker RUN_FOLDER", file=sys.stderr)
        return 2
    group = mx.distributed.init(strict=True)  # launched by mlx.launch: the backend must come up
    try:
        execute(RunRecord(Path(argv[0])))
    except NotmeError as e:
        print(f"rank {group.rank()}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
