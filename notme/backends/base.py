"""What every generation backend offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

Chat = list[dict[str, str]]  # [{"role": "system" | "user" | "assistant", "content": ...}]


class Backend(ABC):
    """Greedy chat completion for many chats at once. `describe()` says exactly what answered, for reports."""

    name: str = ""

    @abstractmethod
    def generate(self, chats: list[Chat], max_tokens: int,
                 progress: Callable[[int], None] | None = None) -> list[str]:
        """One reply per chat, in order; `progress(n)` is called as replies are done (n new ones)."""

    def stream(self, chat: Chat, max_tokens: int, temperature: float = 0.0) -> Iterator[str]:
        """One reply, piece by piece as it is generated (chat). Backends that cannot stream give it whole."""
        yield self.generate([chat], max_tokens)[0]

    def fits(self, chat: Chat, max_tokens: int) -> bool:
        """Whether `chat` and a reply of `max_tokens` fit the model's context window. Backends without a
        fixed window (or that cannot count) say yes."""
        return True

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """{"backend", "model", ...}: enough to tell two judges or two models apart in a report."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release the model or connection."""
