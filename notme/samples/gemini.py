"""Writes Google Takeout "My Activity → Gemini Apps" exports from scripted prompts (for the demo,
tests and benchmarks).

Written from the structure described in the formats notes; no real export is copied. The file is
one JSON array, newest first, of activity entries: `title` "Prompted <prompt>" (or "Live Prompt ",
"Asked ", "Prompt : " in French), `time` ISO 8601 UTC with milliseconds, the answer as HTML in
`safeHtmlItem` (several items for regenerated drafts), `subtitles`, `imageFile`/`attachedFiles`; and
entries that are not prompts ("Created …", "Used …", "Selected preferred draft", "Gave feedback: …").
There is no conversation id. The format can also be written as HTML only, as Takeout does by default.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notme.samples.common import fake_secret, write_files

HEADER = "Gemini Apps"
FOLDER = "Takeout/My Activity/Gemini Apps"



def answer_html(text: str) -> str:
    """Markdown-ish answer text as the simple HTML Takeout stores: paragraphs, lists, code blocks."""
    out: list[str] = []
    paragraph: list[str] = []
    code: list[str] | None = None
    language = ""

    def flush() -> None:
        if paragraph and all(line.startswith("- ") for line in paragraph):
            out.append("<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in paragraph) + "</ul>")
        elif paragraph:
            out.append("<p>" + "<br>".join(_inline(line) for line in paragraph) + "</p>")
        paragraph.clear()

    for line in text.strip().splitlines():
        if code is not None:
            if line.strip().startswith("```"):
                attribute = f' class="language-{language}"' if language else ""
                out.append(f"<pre><code{attribute}>{html.escape(chr(10).join(code))}</code></pre>")
                code = None
            else:
                code.append(line)
        elif line.strip().startswith("```"):
            flush()
            code, language = [], line.strip()[3:].strip()
        elif not line.strip():
            flush()
        else:
            paragraph.append(line)
    if code is not None:
        out.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
    flush()
    return "".join(out)


def _inline(text: str) -> str:
    """Escapes text and turns `code` and **bold** into tags."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class GeminiActivity:
    """Activity entries in time order. Each one moves the clock on by `step_seconds`."""

    def __init__(self, start: datetime, step_seconds: float = 120.0) -> None:
        self.clock = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.step = timedelta(seconds=step_seconds)
        self.entries: list[dict[str, Any]] = []
        self._started = False

    def _next_time(self, at: datetime | None) -> str:
        if at is not None:
            self.clock = at if at.tzinfo else at.replace(tzinfo=UTC)
        elif self._started:
            self.clock += self.step
        self._started = True
        return _stamp(self.clock)

    def wait(self, minutes: float) -> GeminiActivity:
        """A pause before the next entry (on top of the usual step)."""
        self.clock += timedelta(minutes=minutes)
        return self

    def prompt(self, text: str, answer: str | None = "", *, prefix: str = "Prompted ", drafts: Sequence[str] = (),
               subtitles: Sequence[dict[str, Any]] = (), image_file: str | None = None,
               attached_files: Sequence[str] = (), at: datetime | None = None,
               raw_html: bool = False) -> dict[str, Any]:
        """A prompt and Gemini's answer (given as text, turned into HTML unless `raw_html`);
        `drafts` are the other answers Gemini offered."""
        entry: dict[str, Any] = {"header": HEADER, "title": prefix + text, "time": self._next_time(at),
                                 "products": [HEADER], "activityControls": ["Gemini Apps Activity"]}
        answers = [a for a in (answer, *drafts) if a is not None]
        if answers:
            entry["safeHtmlItem"] = [{"html": a if raw_html else answer_html(a)} for a in answers]
        if subtitles:
            entry["subtitles"] = list(subtitles)
        if image_file:
            entry["imageFile"] = image_file
        if attached_files:
            entry["attachedFiles"] = list(attached_files)
        self.entries.append(entry)
        return entry

    def activity(self, title: str, at: datetime | None = None) -> dict[str, Any]:
        """An entry that is not a prompt: "Created …", "Used …", "Selected preferred draft"…"""
        entry = {"header": HEADER, "title": title, "time": self._next_time(at), "products": [HEADER],
                 "activityControls": ["Gemini Apps Activity"]}
        self.entries.append(entry)
        return entry

    def newest_first(self) -> list[Any]:
        return sorted(self.entries, key=lambda e: e["time"] if isinstance(e, dict) else "", reverse=True)


def write_takeout(directory: Path, activity: GeminiActivity | Sequence[Any], *, file_name: str = "My Activity.json",
                  zip_name: str | None = None, html_only: bool = False, other_products: bool = True,
                  indent: int | None = 2) -> Path:
    """A Takeout folder (or zip) with the Gemini Apps activity; returns what to ingest.

    `other_products` adds what a Takeout of several products holds beside it (Search activity, the
    archive browser page), which the Gemini reader must leave alone."""
    entries = activity.newest_first() if isinstance(activity, GeminiActivity) else list(activity)
    files: dict[str, str] = {"Takeout/archive_browser.html": "<html><body>Takeout archive</body></html>\n"}
    if html_only:
        body = "".join(f"<div class=\"outer-cell\">{html.escape(str(e.get('title', '')))}</div>" for e in entries)
        files[f"{FOLDER}/{file_name.removesuffix('.json')}.html"] = f"<html><body>{body}</body></html>\n"
    else:
        files[f"{FOLDER}/{file_name}"] = json.dumps(entries, ensure_ascii=False, indent=indent)
    for entry in entries:
        if isinstance(entry, dict) and entry.get("imageFile"):
            files[f"{FOLDER}/{entry['imageFile']}"] = "not really an image"
    if other_products:
        search = [{"header": "Search", "title": "Searched for bouldering gyms lisbon",
                   "time": "2025-01-05T09:00:00.000Z", "products": ["Search"]}]
        files["Takeout/My Activity/Search/My Activity.json"] = json.dumps(search, indent=2)
    directory.mkdir(parents=True, exist_ok=True)
    return write_files(directory, files, zip_name)


def write_sample(directory: Path, chats: Sequence[dict[str, Any]], owner: dict[str, Any]) -> Path:
    """The persona's assistant chats as a Takeout zip of Gemini Apps activity: one entry per prompt
    and answer, chats every three days from 2025-01-06, 10:00 in the owner's zone, a couple of
    minutes between prompts. Quirks: a regenerated draft and "Selected preferred draft", a Gem
    subtitle, a "Live Prompt", a Canvas "Created …" entry, "Gave feedback", a screenshot with its
    prompt, and an API key in one prompt."""
    zone = ZoneInfo(str(owner.get("timezone") or "UTC"))
    activity = GeminiActivity(datetime(2025, 1, 6, 10, 0, tzinfo=zone), step_seconds=150)
    for number, chat in enumerate(chats):
        start = datetime(2025, 1, 6, 10, 0, tzinfo=zone) + timedelta(days=3 * number, minutes=9 * (number % 4))
        turns = list(chat.get("turns") or [])
        pairs: list[tuple[str, str | None]] = []
        for turn in turns:
            if "me" in turn:
                pairs.append((str(turn["me"]), None))
            elif "ai" in turn and pairs and pairs[-1][1] is None:
                pairs[-1] = (pairs[-1][0], str(turn["ai"]))
        for index, (prompt, answer) in enumerate(pairs):
            at = start if index == 0 else None
            kw: dict[str, Any] = {}
            if number == 0 and index == 0:
                prompt += f"\nthe key is {fake_secret('gemini-sample')}"
            if number == 1 and index == 0:
                kw["drafts"] = [(answer or "") + "\n\nWant me to go on?"]
            if number == 2:
                kw["subtitles"] = [{"name": "Coding partner was used in this chat. Manage your Gems."}]
            if number == 3 and index == 0:
                kw["prefix"] = "Live Prompt "
            if number == 4 and index == 0:
                kw["image_file"] = "image_5f0c21-screenshot.png"
                kw["subtitles"] = [{"name": "Attached 1 file."}]
            activity.prompt(prompt, answer, at=at, **kw)
            if number == 1 and index == 0:
                activity.activity("Selected preferred draft")
        if number == 5:
            activity.activity("Created Canvas \"Notes\"")
        if number == 6:
            activity.activity("Gave feedback: Good response")
    # Only Gemini Apps in this Takeout, as the export instructions say; tests add other products.
    return write_takeout(directory, activity, zip_name="takeout-20250630T180412Z-001.zip", other_products=False)
