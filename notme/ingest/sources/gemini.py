"""Google Gemini through Takeout: `Takeout/My Activity/Gemini Apps/My Activity.json` (or
`MyActivity.json`), one JSON array of activity entries, newest first.

A prompt entry's `title` is "Prompted <prompt>" (also "Live Prompt ", "Asked ", "Prompt : "); its
answer is HTML in `safeHtmlItem` (more than one item when Gemini offered drafts: the first is the
answer, the others are kept as `alternatives`). Entries that are not prompts ("Created …",
"Used …", "Selected preferred draft", "Gave feedback …") are left out and counted.

Takeout keeps no conversation ids, so conversations are rebuilt from time: entries in time order,
a new conversation after 30 minutes without activity; its id is the time of its first entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from notme.corpus.schema import Conversation, Message
from notme.corpus.text import short_title
from notme.corpus.timestamps import from_iso, parse_iso_utc
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester
from notme.ingest.inputs import InputTree, basename
from notme.ingest.jsonstream import array_items

_ACTIVITY_FILES = {"My Activity.json", "MyActivity.json"}
_HTML_FILES = {"My Activity.html", "MyActivity.html"}
_GEMINI_HEADER = re.compile(r'"header"\s*:\s*"[^"]*\b(?:Gemini|Bard)\b')
SESSION_GAP = timedelta(minutes=30)
# "Prompted …", "Live Prompt …", "Asked …" (older), "Prompt : …" (French, often with a no-break space).
_PROMPT_PREFIX = re.compile(r"^(?:(?:Prompted|Live Prompt|Asked)\s|Prompt\s*:\s?)", re.IGNORECASE)
_NOT_PROMPT = re.compile(r"^(?:Created|Used|Selected|Gave feedback|Edited|Shared|Deleted|Canceled|Cancelled)\b",
                         re.IGNORECASE)


_BLOCK_TAGS = frozenset({"p", "div", "section", "article", "header", "footer", "blockquote", "table", "hr",
                         "h1", "h2", "h3", "h4", "h5", "h6"})


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


class Gemini(Ingester):
    name = "gemini"
    title = "Google Gemini (Takeout activity)"
    kind = "assistant"
    priority = 10
    how_to_export = ("takeout.google.com → deselect all → My Activity → \"All activity data included\": only "
                     "Gemini Apps → format JSON; pass the zip or the Takeout folder")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        found = [n for n in names if basename(n) in _ACTIVITY_FILES and _GEMINI_HEADER.search(tree.head_text(n, 4096))]
        folders = {_parent(n) for n in found}
        # Takeout exported as HTML (its default): claimed so that reading can say how to get JSON.
        html_only = [n for n in names if basename(n) in _HTML_FILES and _parent(n) not in folders
                     and "gemini" in _parent(n).casefold()]
        folders |= {_parent(n) for n in html_only}
        # The rest of the Gemini Apps folder (attached images) and the Takeout's index page.
        takeout_roots = {_parent(_parent(f)) for f in folders if f.count("/") >= 1}
        return [
            n for n in names
            if n in found or n in html_only
            or (_parent(n) in folders and "gemini" in _parent(n).casefold())
            or (basename(n) == "archive_browser.html" and _parent(n) in takeout_roots)
        ]

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "the prompts (Prompted …)"
        activity_files = sorted(n for n in entries if basename(n) in _ACTIVITY_FILES)
        if not activity_files:
            html_files = [n for n in entries if basename(n) in _HTML_FILES]
            if html_files:
                raise InputError(tree.display(html_files[0]), "Takeout wrote this activity as HTML, which notme "
                                 "does not read: export again and pick JSON under \"Multiple formats\" for My Activity")
            raise InputError(tree.path, "no Gemini Apps \"My Activity.json\" here")
        timeline: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = {}
        for name in activity_files:
            display = tree.display(name)
            with tree.open(name) as stream:
                for index, entry in enumerate(array_items(stream, display, "item", "entry"), 1):
                    if not isinstance(entry, dict):
                        ctx.malformed(display, f"entry {index}", "entry is not an object")
                        continue
                    moment = from_iso(entry.get("time"))
                    if moment is None:
                        ctx.malformed(display, f"entry {index}", "entry without a valid time")
                        continue
                    # The same entry in two files (My Activity.json and MyActivity.json) counts once.
                    timeline.setdefault((moment, str(entry.get("title"))), (moment, index, entry))
        # Oldest first; the export is newest first, so among equal times the later entry is the older.
        ordered = sorted(timeline.values(), key=lambda item: (item[0], -item[1]))
        session: list[tuple[str, dict[str, Any]]] = []
        for moment, _, entry in ordered:
            if session and parse_iso_utc(moment) - parse_iso_utc(session[-1][0]) > SESSION_GAP:
                yield self._conversation(session)
                session = []
            session.append((moment, entry))
        if session:
            yield self._conversation(session)

    def _conversation(self, session: list[tuple[str, dict[str, Any]]]) -> Conversation:
        conversation = Conversation(id=f"gemini:{session[0][0]}", source=self.name, title="", messages=[],
                                    kind="assistant", participants=["me", "Gemini"])
        for moment, entry in session:
            title = entry.get("title") if isinstance(entry.get("title"), str) else ""
            prefix = _PROMPT_PREFIX.match(title)
            if prefix is None:
                reason = "activity, not a prompt" if _NOT_PROMPT.match(title) else "unrecognised activity"
                conversation.skipped[reason] += 1
                continue
            prompt = title[prefix.end():]
            if not prompt.strip():
                attached = entry.get("imageFile") or entry.get("attachedFiles")
                conversation.skipped["attachment only" if attached else "empty"] += 1
            else:
                conversation.messages.append(Message(speaker="me", is_me=True, text=prompt, timestamp=moment))
            answers = self._answers(entry.get("safeHtmlItem") or [], conversation)
            if answers:
                answer = Message(speaker="Gemini", is_me=False, text=answers[0], timestamp=moment)
                if answers[1:]:
                    answer.extra["alternatives"] = answers[1:]
                conversation.messages.append(answer)
        conversation.title = short_title(next((m.text for m in conversation.messages if m.is_me), ""))
        return conversation

    @staticmethod
    def _answers(items: Any, conversation: Conversation) -> list[str]:
        """The answer and its drafts as text. An odd `safeHtmlItem` costs only the answer: the prompt
        beside it is the owner's and stays."""
        if not isinstance(items, list):
            conversation.skipped["malformed answer"] += 1
            return []
        answers = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("html"), str):
                answers.append(html_to_text(item["html"]))
            else:
                conversation.skipped["malformed answer"] += 1
        return [a for a in answers if a.strip()]


class _TextFromHTML(HTMLParser):
    """Readable text from an answer's HTML: paragraphs apart, list items on their own lines with a
    marker, code blocks fenced and kept verbatim, inline code in backticks, scripts dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.lists: list[list[Any]] = []  # [tag, items so far] per open list
        self.pre = 0
        self.hidden = 0
        self.first_cell = True

    def _ends_with_newlines(self, count: int) -> bool:
        tail = "".join(self.parts[-3:])
        return not self.parts or tail.endswith("\n" * count)

    def _break(self, count: int) -> None:
        """At least `count` line ends before what comes next (none at the very start)."""
        if not self.parts:
            return
        tail = "".join(self.parts[-3:])
        have = len(tail) - len(tail.rstrip("\n"))
        if have < count:
            self.parts.append("\n" * (count - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in ("ul", "ol"):
            self._break(1 if self.lists else 2)
            self.lists.append([tag, 0])
        elif tag == "li":
            self._break(1)
            if self.lists:
                self.lists[-1][1] += 1
                kind, number = self.lists[-1]
                marker = f"{number}. " if kind == "ol" else "- "
            else:
                marker = "- "
            self.parts.append("  " * max(len(self.lists) - 1, 0) + marker)
        elif tag == "pre":
            self._break(2)
            self.pre += 1
            self.parts.append("```")
        elif tag == "code" and self.pre:
            language = next((c.removeprefix("language-") for _, v in attrs if v for c in v.split()
                             if c.startswith("language-")), "")
            self.parts.append(language + "\n")
        elif tag == "code":
            self.parts.append("`")
        elif tag == "tr":
            self._break(1)
            self.first_cell = True
        elif tag in ("td", "th"):
            if not self.first_cell:
                self.parts.append(" | ")
            self.first_cell = False
        elif tag in _BLOCK_TAGS:
            self._break(2)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self.hidden = max(self.hidden - 1, 0)
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._break(1 if self.lists else 2)
        elif tag == "pre":
            if not self._ends_with_newlines(1):
                self.parts.append("\n")
            self.parts.append("```")
            self.pre = max(self.pre - 1, 0)
            self._break(2)
        elif tag == "code" and not self.pre:
            self.parts.append("`")
        elif tag in _BLOCK_TAGS:
            self._break(2)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            self.parts.append(data)
            return
        text = re.sub(r"\s+", " ", data)
        if self._ends_with_newlines(1) or "".join(self.parts[-1:]).endswith((" ", "- ", ". ")):
            text = text.lstrip()
        if text:
            self.parts.append(text)

    def text(self) -> str:
        joined = "".join(self.parts)
        joined = re.sub(r"[ \t]+\n", "\n", joined)
        return re.sub(r"\n{3,}", "\n\n", joined).strip()


def html_to_text(markup: str) -> str:
    parser = _TextFromHTML()
    parser.feed(markup)
    parser.close()
    return parser.text()
