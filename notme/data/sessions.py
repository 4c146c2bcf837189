"""From a stored conversation to sessions of turns, in the chat roles a model is trained on.

A messaging chat is stored whole (months of it); a session is a stretch without a gap of
`use.session_gap_minutes`. An AI chat is one session. Consecutive messages of one speaker within
`use.merge_window_minutes` are one turn (joined with "\\n"); consecutive turns of one role are then
joined too (with a blank line when they were further apart), so roles alternate as chat templates
require. By default the owner is the assistant role: the model learns to answer as them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from notme.corpus.schema import Conversation, Message


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str
    is_me: bool
    # Positions in the conversation's message list of the messages this turn is made of.
    positions: tuple[int, ...]

    def with_text(self, text: str) -> Turn:
        return replace(self, text=text)


def minutes_between(earlier: str | None, later: str | None) -> float | None:
    if not earlier or not later:
        return None
    return (_parse(later) - _parse(earlier)).total_seconds() / 60


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def split_sessions(conversation: Conversation, gap_minutes: float,
                   since: str | None = None) -> list[list[int]]:
    """Positions of the messages of each session. Messages before `since` (a fixed-width ISO UTC
    string) are left out; a message without a time inherits the time of the one before it."""
    sessions: list[list[int]] = []
    last: str | None = None
    for position, message in enumerate(conversation.messages):
        stamp = message.timestamp or last
        if since and (stamp is None or stamp < since):
            last = stamp
            continue
        gap = minutes_between(last, stamp)
        split = conversation.kind == "messaging" and gap is not None and gap >= gap_minutes
        if not sessions or split:
            sessions.append([])
        sessions[-1].append(position)
        last = stamp
    return sessions


def turns_of(conversation: Conversation, positions: list[int], merge_window_minutes: float,
             owner_role: str = "assistant") -> list[Turn]:
    """The session's messages as alternating turns. In group chats other speakers' lines carry
    "Name: " so the model sees who said what; the owner's never do (they are the model's own)."""
    other_role = "user" if owner_role == "assistant" else "assistant"
    turns: list[Turn] = []
    previous: Message | None = None
    for position in positions:
        message = conversation.messages[position]
        text = message.text.strip()
        if not text:
            continue
        role = owner_role if message.is_me else other_role
        same_speaker = previous is not None and previous.speaker == message.speaker and previous.is_me == message.is_me
        line = f"{message.speaker}: {text}" if conversation.is_group and not message.is_me else text
        if turns and turns[-1].role == role:
            gap = minutes_between(previous.timestamp if previous else None, message.timestamp)
            close = gap is None or gap <= merge_window_minutes
            if same_speaker and close and conversation.is_group and not message.is_me:
                line = text  # the name is already on the first line of this speaker's run
            separator = "\n" if close else "\n\n"
            last = turns[-1]
            turns[-1] = Turn(role, last.text + separator + line, last.is_me, (*last.positions, position))
        else:
            turns.append(Turn(role, line, message.is_me, (position,)))
        previous = message
    return turns
