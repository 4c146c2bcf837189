"""SFT examples: a session's turns cut into windows that each fit the recipe's length.

Every assistant message of a record is a training target (the trainer masks the rest), so windows
never overlap: each of the owner's turns is trained exactly once. A session that fits whole is one
window; a longer one is cut so that a window keeps at most `use.max_context_turns` turns before its
last reply and at most `use.max_seq_length` tokens (estimated at build time as chars / 3.5 plus a few
tokens per message for the chat template; the trainer truncates exactly). An owner turn that is not
trainable (too long on its own, a duplicate) is a cut point: no window holds it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from notme.data.sessions import Turn

CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD = 4  # role markers and separators a chat template adds around each message
ELLIPSIS = "…"
MIN_CONTEXT_CHARS = 16  # a context turn cut shorter than this says nothing; drop the example instead


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD


def turns_tokens(turns: list[Turn]) -> int:
    return sum(estimate_tokens(t.text) for t in turns)


def recent_context(turns: list[Turn], lo: int, end: int, budget: int, max_turns: int) -> list[Turn] | None:
    """The most recent turns of turns[lo:end] that fit `budget` tokens and `max_turns`, as many as fit.

    The context must open with a user turn unless it opens the session (the owner started it). When
    even the single turn before `end` does not fit, its text is cut to its last characters (the most
    recent part). None when nothing useful fits; [] when `end` is the session's start."""
    if end <= lo:
        return [] if end == 0 else None
    for start in range(max(lo, end - max_turns), end):
        if start > 0 and turns[start].role != "user":
            continue
        chosen = turns[start:end]
        if turns_tokens(chosen) <= budget:
            return chosen
    last = turns[end - 1]
    if last.role != "user":
        return None
    room = math.floor((budget - MESSAGE_OVERHEAD) * CHARS_PER_TOKEN) - len(ELLIPSIS) - 1
    if room < MIN_CONTEXT_CHARS:
        return None
    return [last.with_text(ELLIPSIS + last.text[-room:].lstrip())]


@dataclass(frozen=True)
class Window:
    turns: tuple[Turn, ...]
    session: int
    index: int  # the window's number within its session


def windows(turns: list[Turn], trainable: list[bool], budget: int, max_context_turns: int,
            session: int, dropped: Counter[str]) -> list[Window]:
    """Non-overlapping windows over one session; `trainable[i]` says whether assistant turn i may be
    a target. `budget` is the token limit without the system prompt."""
    out: list[Window] = []
    start = 0
    while start < len(turns):
        reply = next((i for i in range(start, len(turns)) if turns[i].role == "assistant"), None)
        if reply is None:
            break
        if not trainable[reply]:
            start = reply + 1
            continue
        context = recent_context(turns, start, reply, budget - estimate_tokens(turns[reply].text),
                                 max_context_turns)
        if context is None:
            dropped["no room for context"] += 1
            start = reply + 1
            continue
        chosen = [*context, turns[reply]]
        end = reply
        # Extend with the next exchanges while each reply keeps its limits.
        while True:
            following = end + 2
            if following >= len(turns) or turns[following].role != "assistant" or not trainable[following]:
                break
            extended = [*chosen, turns[end + 1], turns[following]]
            if len(extended) - 1 > max_context_turns or turns_tokens(extended) > budget:
                break
            chosen, end = extended, following
        out.append(Window(tuple(chosen), session, len(out)))
        start = end + 1
    return out


def sft_record(window: Window, system: str, source: str, conversation: str) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": t.role, "content": t.text} for t in window.turns]
    return {
        "messages": messages,
        "source": source,
        "conversation": conversation,
        "id": f"{conversation}#{window.session}.{window.index}",
    }


def record_tokens(record: dict) -> int:
    return sum(estimate_tokens(m["content"]) for m in record["messages"])
