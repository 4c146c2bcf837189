"""`notme interview`: the owner and the model talk about harm; `/draft` asks the model to write the
constitution from that conversation, the owner edits the draft, `/accept` makes it the one in use.

The transcript is the chat history (saved after every turn, resumable); the drafts are part of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notme.chat.session import HELP as CHAT_HELP
from notme.chat.session import ChatSession
from notme.constitution import store
from notme.corpus.store import atomic_write
from notme.errors import NotmeError

HELP = """\
/draft         ask the model to draft the constitution from the conversation (saved to draft.md)
/edit          open draft.md in your editor
/accept        accept draft.md (as you edited it) as the constitution
""" + "\n".join(line for line in CHAT_HELP.splitlines() if not line.lstrip().startswith("/reset"))


@dataclass
class InterviewSession(ChatSession):
    invitation: str = ""
    draft_request: str = ""
    editor: Callable[[Path], None] | None = None  # opens a file for the owner to edit (the terminal's $EDITOR)
    accepted: list[Path] = field(default_factory=list)

    def opening(self) -> Iterator[str]:
        """The model's answer to the invitation, on a new interview; nothing when resuming one."""
        if not self.messages:
            yield from self.reply(self.invitation)

    def draft(self) -> str:
        """The model's draft from the conversation so far, kept in the transcript and written to draft.md."""
        text = "".join(self.reply(self.draft_request)).strip()
        if not text:  # a sampled reply can be empty: keep the draft already there
            raise NotmeError(f"the model's draft came back empty; /draft again ({store.draft_path()} is as it was)")
        path = store.draft_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text + "\n")
        return text

    def accept(self) -> Path:
        path = store.draft_path()
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        version = store.accept(text, self.history_path, self.backend.describe())
        self.accepted.append(version)
        return version

    def command(self, line: str) -> str | None:
        name = line.strip().partition(" ")[0]
        if name == "/help":
            return HELP
        if name == "/draft":
            try:
                text = self.draft()
            except NotmeError as e:  # the interview goes on
                return str(e)
            return f"{text}\n\n(saved to {store.draft_path()}: edit it there or with /edit, then /accept)"
        if name == "/edit":
            if self.editor is None:
                return f"edit {store.draft_path()} in your editor, then /accept"
            if not store.draft_path().is_file():
                return "no draft yet: /draft first"
            self.editor(store.draft_path())
            return f"{store.draft_path()} saved; /accept to make it the constitution"
        if name == "/accept":
            try:
                version = self.accept()
            except NotmeError as e:  # nothing to accept yet: say so, the interview goes on
                return str(e)
            return (f"accepted as {version.name}: {store.constitution_dir() / store.CURRENT} is the constitution now "
                    "(the constitution recipe's identity layer; `notme practice` writes scenarios from it)")
        if name == "/reset":
            return "an interview is one conversation: /quit and start `notme interview` again for a new one"
        return super().command(line)


def start_interview(backend: Any, recipe: dict[str, Any], resume: bool = False,
                    editor: Callable[[Path], None] | None = None) -> InterviewSession:
    """A new interview (or the latest one, resumed), with the recipe's invitation and draft request."""
    settings = recipe["interview"]
    transcript = (store.latest_transcript() if resume else None) or store.new_transcript()
    session = InterviewSession.resume(backend, transcript, "", max_tokens=settings["max_tokens"],
                                      temperature=settings["temperature"])
    session.invitation, session.draft_request, session.editor = (settings["invitation"], settings["draft_request"],
                                                                 editor)
    return session
