"""An export as the user hands it over — one file, a folder or a zip — seen as named entries.

Ingesters never touch paths directly: they list `names`, `open` an entry (a binary stream that
reports the bytes it reads, for the progress bar) or ask for a real file (`local_file`, for
SQLite, which cannot read from inside a zip).
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from notme.errors import InputError, NotmeError

_JUNK = ("__MACOSX/", ".DS_Store")


class _Counting(io.RawIOBase):
    def __init__(self, raw: BinaryIO, report: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._report = report

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if self._report and n:
            self._report(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class InputTree:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.on_read: Callable[[int], None] | None = None
        self._zip: zipfile.ZipFile | None = None
        self._tmpdir: Path | None = None
        if not path.exists():
            raise NotmeError(f"{path}: no such file or folder")
        if path.is_dir():
            self.kind = "dir"
            self.names = sorted(
                p.relative_to(path).as_posix() for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif zipfile.is_zipfile(path):
            self.kind = "zip"
            try:
                self._zip = zipfile.ZipFile(path)
                self.names = sorted(
                    i.filename for i in self._zip.infolist()
                    if not i.is_dir() and not any(j in i.filename for j in _JUNK)
                )
            except (zipfile.BadZipFile, OSError, ValueError) as e:
                raise InputError(path, f"not a readable zip archive ({e})") from e
        elif path.suffix.lower() == ".zip":
            raise InputError(path, "not a readable zip archive (truncated or corrupt)")
        else:
            self.kind = "file"
            self.names = [path.name]

    def __repr__(self) -> str:
        return f"InputTree({self.path}, {self.kind}, {len(self.names)} entries)"

    def display(self, name: str) -> str:
        """How an entry is named in messages: the file the user can open."""
        if self.kind == "zip":
            return f"{self.path}:{name}"
        if self.kind == "dir":
            return str(self.path / name)
        return str(self.path)

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(name).file_size
        return self._file(name).stat().st_size

    def _file(self, name: str) -> Path:
        return self.path if self.kind == "file" else self.path / name

    def open(self, name: str, counted: bool = True) -> io.BufferedReader:
        """A binary stream of an entry; `counted=False` for an extra look that the progress bar
        should not count twice."""
        try:
            raw: BinaryIO = self._zip.open(name) if self._zip is not None else self._file(name).open("rb")
        except (OSError, zipfile.BadZipFile, KeyError) as e:
            raise InputError(self.display(name), f"cannot be read ({e})") from e
        return io.BufferedReader(_Counting(raw, self.on_read if counted else None), buffer_size=1 << 16)

    def pass_over(self, names: list[str]) -> None:
        """Entries claimed but never read (media, viewers): count them so the progress bar ends full."""
        if self.on_read and names:
            self.on_read(sum(self.size(n) for n in names))

    def head(self, name: str, size: int = 1 << 16) -> bytes:
        """The first bytes of an entry, for detection; unreadable entries give b""."""
        try:
            if self._zip is not None:
                with self._zip.open(name) as f:
                    return f.read(size)
            with self._file(name).open("rb") as f:
                return f.read(size)
        except (OSError, zipfile.BadZipFile, KeyError, RuntimeError, EOFError):
            return b""

    def head_text(self, name: str, size: int = 1 << 16) -> str:
        return self.head(name, size).decode("utf-8", errors="replace").lstrip("\ufeff")

    def local_file(self, name: str) -> Path:
        """A real file for an entry (extracted from a zip into a scratch folder when needed)."""
        if self._zip is None:
            return self._file(name)
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="notme-input-"))
        target = self._tmpdir.joinpath(*PurePosixPath(name).parts)  # two entries may share a base name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._zip.open(name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, zipfile.BadZipFile) as e:
            raise InputError(self.display(name), f"cannot be extracted ({e})") from e
        return target

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def children(self) -> list[Path]:
        """For a folder nothing claims as a whole: its direct children, to detect one by one."""
        if self.kind != "dir":
            return []
        return sorted(p for p in self.path.iterdir() if not p.name.startswith("."))


def basename(name: str) -> str:
    return PurePosixPath(name).name
