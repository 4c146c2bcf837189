"""The ingest pipeline's own guarantees, with a deliberately fragile ingester."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notme.corpus.schema import Conversation, Message
from notme.errors import InputError
from notme.ingest import registry
from notme.ingest.base import IngestContext, Ingester
from notme.ingest.inputs import InputTree
from notme.ingest.pipeline import ingest
from tests.conftest import corpus_bytes, stored


class Lines(Ingester):
    """Test-only: one conversation per line of a *.lines file; "!" lines are built carelessly."""

    name = "lines"
    title = "test lines"
    kind = "assistant"
    how_to_export = "-"

    def __init__(self, guarded: bool) -> None:
        self.guarded = guarded

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        return [n for n in names if n.endswith(".lines")]

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        for name in entries:
            with tree.open(name) as stream:
                for number, raw in enumerate(stream, 1):
                    line = raw.decode().strip()
                    if not self.guarded:
                        yield self._build(line, number)
                        continue
                    conversation = None
                    with ctx.guard(tree.display(name), f"line {number}"):
                        conversation = self._build(line, number)
                    if conversation is not None:
                        yield conversation

    @staticmethod
    def _build(line: str, number: int) -> Conversation:
        if line.startswith("!"):
            {}["missing"]  # an unguarded lookup on an odd record
        return Conversation(id=f"lines:{number}", source="lines", title="",
                            messages=[Message(speaker="me", is_me=True, text=line)])


@pytest.fixture
def lines_file(tmp_path: Path) -> Path:
    path = tmp_path / "chat.lines"
    path.write_text("first\n!odd\nthird\n")
    return path


def use(monkeypatch: pytest.MonkeyPatch, guarded: bool) -> None:
    monkeypatch.setattr(registry, "INGESTERS", [Lines(guarded)])
    monkeypatch.setattr(registry, "names", lambda: ["lines"])


def test_guarded_odd_record_is_skipped_and_counted(monkeypatch, lines_file):
    use(monkeypatch, guarded=True)
    report = ingest([lines_file])
    assert [c.messages[0].text for c in stored()] == ["first", "third"]
    assert report.inputs[0].dropped == {"malformed: unexpected KeyError ('missing')": 1}
    assert report.inputs[0].examples["malformed: unexpected KeyError ('missing')"] == ["line 2"]


def test_guarded_odd_record_is_an_error_with_strict(monkeypatch, lines_file):
    use(monkeypatch, guarded=True)
    with pytest.raises(InputError, match=r"chat.lines: line 2: unexpected KeyError"):
        ingest([lines_file], strict=True)
    assert not stored()


def test_unguarded_crash_becomes_a_clear_error_and_changes_nothing(monkeypatch, lines_file, tmp_path):
    use(monkeypatch, guarded=True)
    good = tmp_path / "good.lines"
    good.write_text("kept\n")
    ingest([good])
    before = corpus_bytes()
    use(monkeypatch, guarded=False)
    with pytest.raises(InputError, match=r"chat.lines: could not be read: unexpected data \(KeyError"):
        ingest([lines_file])
    assert corpus_bytes() == before


def test_a_crash_while_detecting_means_not_this_source(monkeypatch, tmp_path):
    class Fragile(Lines):
        def claims(self, tree, names):
            raise TypeError("odd head")

    monkeypatch.setattr(registry, "INGESTERS", [Fragile(True)])
    path = tmp_path / "x.lines"
    path.write_text("hi\n")
    with pytest.raises(InputError, match="not a chat export notme recognises"):
        ingest([path])


def test_progress_reports_the_bytes_of_each_input(monkeypatch, lines_file, tmp_path):
    use(monkeypatch, guarded=True)
    other = tmp_path / "other.lines"
    other.write_text("x\n" * 5000)

    class Recorder:
        def __init__(self):
            self.started, self.advanced, self.finished = [], 0, 0

        def start(self, description, total):
            self.started.append((description, total))

        def advance(self, amount):
            self.advanced += amount

        def finish(self):
            self.finished += 1

    recorder = Recorder()
    ingest([lines_file, other], progress=recorder)
    sizes = lines_file.stat().st_size + other.stat().st_size
    assert [total for _, total in recorder.started] == [lines_file.stat().st_size, other.stat().st_size]
    assert recorder.advanced == sizes and recorder.finished == 2
    assert recorder.started[0][0] == "test lines: chat.lines"
