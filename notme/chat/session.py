"""A terminal chat: history kept on disk after every turn, slash commands, the safety layer around the model.

    /system TEXT   set the system prompt (alone: show it)
    /reset         start a new conversation (the old one is archived beside the history)
    /save [FILE]   write the conversation as JSON (default: a timestamped file beside the history)
    /help          these lines
    /quit          leave (Ctrl-D too)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notme.backends.base import Backend
from notme.chat.safety import SafetyLayer
from notme.corpus.store import atomic_write, now_iso
from notme.errors import NotmeError

HELP = __doc__.split("\n\n", 1)[1].rstrip()


@dataclass
class ChatSession:
    backend: Backend
    history_path: Path
    system: str = ""
    safety: SafetyLayer | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    messages: list[dict[str, str]] = field(default_factory=list)
    risk_log: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def resume(cls, backend: Backend, history_path: Path, system: str, **options: Any) -> ChatSession:
        """The conversation saved at `history_path`, if any, goes on where it stopped."""
        session = cls(backend, history_path, system, **options)
        if history_path.is_file():
            try:
                saved = json.loads(history_path.read_text(encoding="utf-8"))
                session.messages = [m for m in saved["messages"] if m.get("role") in ("user", "assistant")]
                session.system = saved.get("system", system)
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise NotmeError(f"{history_path}: the saved conversation is damaged ({e}); move it away to start "
                                 "a new one") from e
        return session

    def chat(self) -> list[dict[str, str]]:
        """What the model is sent: the system prompt and the conversation, its oldest turns left out once it
        outgrows the model's context window (the history on disk keeps them)."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        turns = self.messages
        while len(turns) > 1 and not self.backend.fits(system + turns, self.max_tokens):
            turns = turns[1:]
            while len(turns) > 1 and turns[0]["role"] != "user":  # a user turn and its answers at a time
                turns = turns[1:]
        return system + turns

    def reply(self, message: str) -> Iterator[str]:
        """The answer to `message`, in pieces as they come: crisis resources first when the message is high
        risk; with the response filter on, the model's reply is checked whole before it is shown."""
        rating = None
        if self.safety:
            earlier = [m["content"] for m in self.messages if m["role"] == "user"]
            rating = self.safety.rate(message, earlier)
            if rating:
                self.risk_log.append({"time": now_iso(), "level": rating.level, "p_high": round(rating.p_high, 3)})
            if rating and rating.level == "high":
                yield self.safety.crisis_message + "\n\n"
        self.messages.append({"role": "user", "content": message})
        pieces: list[str] = []
        try:
            if self.safety and self.safety.response_filter:
                text = "".join(self.backend.stream(self.chat(), self.max_tokens, self.temperature))
                filtered = self.safety.filter(text, rating)
                pieces.append(filtered.text)
                yield filtered.text
            else:
                for piece in self.backend.stream(self.chat(), self.max_tokens, self.temperature):
                    pieces.append(piece)
                    yield piece
        except BaseException:
            self.messages.pop()  # an interrupted or failed turn is not history
            raise
        self.messages.append({"role": "assistant", "content": "".join(pieces).strip()})
        self.save_history()

    def command(self, line: str) -> str | None:
        """Run a slash command; the text to show, or None to quit."""
        name, _, argument = line.strip().partition(" ")
        if name in ("/quit", "/exit"):
            return None
        if name == "/help":
            return HELP
        if name == "/system":
            if not argument.strip():
                return f"system prompt: {self.system or '(none)'}"
            self.system = argument.strip()
            self.save_history()
            return "system prompt set"
        if name == "/reset":
            archived = self._archive() if self.messages else None
            self.messages = []
            self.save_history()
            return "new conversation" + (f" (the last one is in {archived})" if archived else "")
        if name == "/save":
            target = Path(argument.strip()).expanduser() if argument.strip() else self._stamped("saved")
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, self._json())
            return f"saved {len(self.messages)} messages to {target}"
        return f"unknown command {name}; /help lists them"

    def save_history(self) -> None:
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.history_path, self._json())

    def _json(self) -> str:
        return json.dumps({"model": self.backend.describe(), "system": self.system, "saved": now_iso(),
                           "messages": self.messages}, indent=2, ensure_ascii=False) + "\n"

    def _archive(self) -> Path:
        target = self._stamped("archive")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, self._json())
        return target

    def _stamped(self, kind: str) -> Path:
        return self.history_path.parent / kind / f"{time.strftime('%Y%m%d-%H%M%S')}.json"


def run_loop(session: ChatSession, read: Callable[[], str], write: Callable[[str], None]) -> None:
    """Read lines until /quit or end of input; stream each reply through `write`."""
    while True:
        try:
            line = read()
        except EOFError:
            write("\n")
            return
        if not line.strip():
            continue
        if line.lstrip().startswith("/"):
            shown = session.command(line)
            if shown is None:
                return
            write(shown + "\n")
            continue
        try:
            for piece in session.reply(line.strip()):
                write(piece)
        except KeyboardInterrupt:
            write("\n[interrupted: that turn is not kept]")
        write("\n")
