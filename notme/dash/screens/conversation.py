"""What the chat and interview screens share: a session to talk to, its bubbles, one reply at a time
streamed in from a worker thread."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.screen import Screen
from textual.widgets import Static

from notme.dash.widgets import Conversation


class ConversationScreen(Screen):
    """Subclasses compose a `Conversation(id="messages")` and set `session` (a ChatSession) once loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.session: Any = None
        self.busy = True  # until the session is loaded, then while a reply streams

    def add(self, role: str, text: str) -> Static:
        return self.query_one("#messages", Conversation).add(role, text)

    def send(self, line: str) -> None:
        """The owner's line as a bubble, and the model's reply streaming into the next one."""
        self.add("user", line)
        self.busy = True
        self.reply(line, self.add("assistant", "…"))

    @work(thread=True, group="reply")
    def reply(self, line: str, bubble: Static) -> None:
        try:
            self.query_one("#messages", Conversation).fill(bubble, self.session.reply(line))
        finally:
            self.app.call_from_thread(setattr, self, "busy", False)
