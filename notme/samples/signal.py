"""Writes Signal exports from scripted chats (for the demo, tests and benchmarks).

Two tools' output, written from the structure described in the formats notes; no real export is copied:

- signal-export (`sigexport`): one folder per chat (`data.json` as JSON Lines, `chat.md`,
  `index.html`, `media/`), `style.css` at the top. Rows carry a naive local `date`, `sender`
  ("Me", a contact name or "No-Sender"), a `body` with backticks removed and two spaces appended, a
  preformatted `quote`, a sticker emoji, `[name, emoji]` reactions, attachments, and a synthesized
  body for calls ("Missed voice call").
- signalbackup-tools `--exporttxt`: one `<Name> (_id<thread>).txt` per thread, lines
  `[Mon DD, YYYY HH:MM:SS] <Name> body` with reactions appended as ` (Name: emoji)`, `***` status,
  call and "sent file" lines, polls on several lines and bodies that run over several lines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from notme.samples.common import fake_secret, write_files

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def folder_name(name: str) -> str:
    """How sigexport names a chat folder (and a contact): letters and digits only."""
    cleaned = "".join(ch for ch in name if ch.isalnum())
    return cleaned or "unnamed"



class SignalChat:
    """One sigexport chat folder. Every row moves the clock on by `step_seconds` (naive local time)."""

    def __init__(self, name: str, start: datetime, step_seconds: float = 75.0) -> None:
        self.name = name
        self.clock = start.replace(tzinfo=None)
        self.step = timedelta(seconds=step_seconds)
        self.rows: list[dict[str, Any]] = []
        self.lines: list[str] | None = None  # raw data.json lines, when a test breaks the file

    def at(self, moment: datetime) -> SignalChat:
        """Jump the clock (a new session); the next row is written at `moment`."""
        self.clock = moment.replace(tzinfo=None) - self.step
        return self

    def row(self, sender: str, body: str = "", *, quote: str = "", sticker: str = "",
            reactions: Sequence[tuple[str, str]] = (), attachments: Sequence[str] = (),
            deleted: bool = False, call: bool = False, missed: bool = False,
            microseconds: int = 0) -> dict[str, Any]:
        self.clock += self.step
        moment = self.clock.replace(microsecond=microseconds)
        quoted = ""
        if quote:
            quoted = "\n\n> " + quote.rstrip("\n").replace("\n", "\n> ") + "\n\n"
        record = {
            "date": moment.isoformat(),
            "sender": sender,
            "body": body.replace("`", "") + "  ",  # sigexport drops backticks and adds a markdown break
            "quote": quoted,
            "sticker": sticker,
            "reactions": [[name, emoji] for name, emoji in reactions],
            "attachments": [{"name": a, "path": "media/" + a.replace(" ", "%20")} for a in attachments],
            "deleted": deleted,
            "call": call,
            "missed": missed,
        }
        self.rows.append(record)
        return record

    def me(self, text: str, **kw: Any) -> dict[str, Any]:
        return self.row("Me", text, **kw)

    def say(self, sender: str, text: str, **kw: Any) -> dict[str, Any]:
        return self.row(sender, text, **kw)

    def call(self, sender: str = "Me", text: str = "Outgoing voice call (accepted, 3m 2s)",
             flagged: bool = False) -> dict[str, Any]:
        """A call row: sigexport synthesizes its body; newer versions may also set `call`."""
        return self.row(sender, text, call=flagged, missed=flagged and text.startswith("Missed"))

    def deleted(self, sender: str) -> dict[str, Any]:
        return self.row(sender, "", deleted=True)

    def attachment(self, sender: str, file_name: str, caption: str = "") -> dict[str, Any]:
        return self.row(sender, caption, attachments=[file_name])

    def sticker(self, sender: str, emoji: str = "🐱") -> dict[str, Any]:
        return self.row(sender, "", sticker=emoji)

    def system(self, text: str) -> dict[str, Any]:
        """A row sigexport could not give a sender (group changes, safety-number notices)."""
        return self.row("No-Sender", text)

    def data_json(self) -> str:
        if self.lines is not None:
            return "".join(line + "\n" for line in self.lines)
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows)

    def chat_md(self) -> str:
        out = []
        for r in self.rows:
            stamp = r["date"][:19].replace("T", " ")
            if r["deleted"]:
                out.append(f"[{stamp}] {r['sender']}: (This message was deleted)\n")
                continue
            body = r["body"]
            if r["reactions"]:
                body += "\n(- " + ", ".join(f"{n}: {e}" for n, e in r["reactions"]) + " -)"
            if r["sticker"]:
                body += "\n(( " + r["sticker"] + " ))"
            for a in r["attachments"]:
                body += f"![{a['name']}](./{a['path']})  "
            out.append(f"[{stamp}] {r['sender']}: {r['quote']}{body}\n")
        return "\n".join(out)

    def files(self) -> dict[str, bytes]:
        """The chat folder's files, relative to it."""
        files = {
            "data.json": self.data_json().encode("utf-8"),
            "chat.md": self.chat_md().encode("utf-8"),
            "index.html": f"<html><head><title>{self.name}</title></head><body></body></html>\n".encode(),
        }
        for r in self.rows:
            for a in r["attachments"]:
                files["media/" + a["name"]] = b"\x89PNG\r\n\x1a\n not really an image"
        return files


def write_export(directory: Path, chats: Sequence[SignalChat], *, zip_name: str | None = None,
                 root: str = "") -> Path:
    """A sigexport output folder (or a zip of it when `zip_name` is given); returns what to ingest.

    `root` nests the chat folders one level down (`signal-export/<chat>/data.json`), as a zip of the
    output folder has it."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = f"{root}/" if root else ""
    files: dict[str, bytes] = {f"{prefix}style.css": b"body { font-family: sans-serif; }\n"}
    for chat in chats:
        for name, data in chat.files().items():
            files[f"{prefix}{chat.name}/{name}"] = data
    return write_files(directory, files, zip_name)


class SignalTxtThread:
    """One signalbackup-tools `--exporttxt` file. Times are naive local wall-clock times."""

    def __init__(self, name: str, thread_id: int, start: datetime, step_seconds: float = 90.0) -> None:
        self.name = name
        self.thread_id = thread_id
        self.clock = start.replace(tzinfo=None)
        self.step = timedelta(seconds=step_seconds)
        self.lines: list[str] = []

    @property
    def file_name(self) -> str:
        return f"{self.name} (_id{self.thread_id}).txt"

    def at(self, moment: datetime) -> SignalTxtThread:
        self.clock = moment.replace(tzinfo=None) - self.step
        return self

    def _stamp(self) -> str:
        self.clock += self.step
        c = self.clock
        return f"[{_MONTHS[c.month - 1]} {c.day:02d}, {c.year} {c:%H:%M:%S}]"

    def say(self, name: str, text: str, reactions: Sequence[tuple[str, str]] = ()) -> None:
        """A message; a body with newlines runs over several lines with no prefix, as the tool writes it."""
        line = f"{self._stamp()} <{name}> {text}"
        if reactions:
            line += " (" + "; ".join(f"{n}: {e}" for n, e in reactions) + ")"
        self.lines.append(line)

    def status(self, text: str) -> None:
        self.lines.append(f"{self._stamp()} *** {text}")

    def call(self, text: str = "Missed voice call") -> None:
        self.status(text)

    def file(self, name: str, file_name: str, caption: str = "") -> None:
        """An attachment line; a caption follows as an ordinary message line at the same time."""
        stamp = self._stamp()
        self.lines.append(f"{stamp} *** <{name}> sent file \"{file_name}\"")
        if caption:
            self.lines.append(f"{stamp} <{name}> {caption}")

    def poll(self, name: str, question: str, options: Sequence[tuple[int, str]]) -> None:
        stamp = self._stamp()
        self.lines.append(f"{stamp} <{name}> Poll: {question}")
        pad = " " + " " * len(stamp) + "   " + " " * len(name) + "        "
        for votes, option in options:
            self.lines.append(f"{pad}[{votes}] {option}")

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def write_txt_export(directory: Path, threads: Sequence[SignalTxtThread], *, zip_name: str | None = None) -> Path:
    """A signalbackup-tools `--exporttxt` folder (or zip); returns what to ingest."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {t.file_name: t.text().encode("utf-8") for t in threads}
    return write_files(directory, files, zip_name)


def _session_start(chat_number: int, session_number: int) -> datetime:
    """Naive local time: a session every three days from 2025-01-06, evenings, chats a little apart."""
    return datetime(2025, 1, 6, 18, 30) + timedelta(days=3 * session_number + chat_number % 3,
                                                     minutes=11 * chat_number)


def write_sample(directory: Path, contacts: Sequence[dict[str, Any]], groups: Sequence[dict[str, Any]],
                 owner: dict[str, Any]) -> Path:
    """The persona's contacts and groups as a sigexport output folder, with the format's usual quirks:
    a call row, a deleted row, a reply quoting the message before it, a reaction, a sticker, a photo
    with no caption, a "No-Sender" row in a group and an API key pasted into one message. Sessions start
    every three days from 2025-01-06 in the evening (local time, as sigexport writes it), with messages
    a minute or so apart. Folder and sender names are letters and digits only, as sigexport writes them."""
    me_name = folder_name(str(owner.get("owner") or owner.get("name") or "Me"))
    chats: list[SignalChat] = []
    secret_placed = False
    for number, contact in enumerate(contacts):
        them = folder_name(str(contact.get("name") or "Contact"))
        chat = SignalChat(them, _session_start(number, 0), step_seconds=60 + 30 * (number % 3))
        for session_number, session in enumerate(contact.get("sessions") or []):
            chat.at(_session_start(number, session_number))
            last_text, mine = "", 0
            for turn in session:
                if "me" in turn:
                    text, mine = str(turn["me"]), mine + 1
                    quirks: dict[str, Any] = {}
                    if number == 0 and session_number == 0 and mine == 1:
                        quirks["reactions"] = [(them, "👍")]
                    if number == 0 and session_number == 1 and mine == 2 and last_text:
                        quirks["quote"] = last_text
                    if not secret_placed and mine == 1:
                        text += f"\nthe api key for the flat's thermostat is {fake_secret('signal-sample')}"
                        secret_placed = True
                    chat.me(text, **quirks)
                else:
                    text = str(next(iter(turn.values())))
                    chat.say(them, text)
                last_text = text
            if number == 0 and session_number == 0:
                chat.call(them, "Missed voice call")
                chat.call("Me", "Outgoing voice call (accepted, 3m 2s)")
            if number == 0 and session_number == 1:
                chat.deleted("Me")
            if number == 1 and session_number == 0:
                chat.sticker(them, "🐱")
                chat.attachment("Me", "2025-01-09T19-02-11.000_00_IMG_2041.jpg")
        chats.append(chat)
    for group_number, group in enumerate(groups):
        number = len(contacts) + group_number
        chat = SignalChat(folder_name(str(group.get("name") or "Group")), _session_start(number, 0))
        for session_number, session in enumerate(group.get("sessions") or []):
            chat.at(_session_start(number, session_number))
            if group_number == 0 and session_number == 0:
                chat.system("Group updated: disappearing messages off")
            for turn_number, turn in enumerate(session):
                speaker, text = next(iter(turn.items()))
                if speaker == "me":
                    chat.me(str(text))
                elif group_number == 0 and session_number == 0 and turn_number == 0:
                    # The owner's own reaction: sigexport names its author by contact name, not "Me".
                    chat.say(folder_name(str(speaker)), str(text), reactions=[(me_name, "😂")])
                else:
                    chat.say(folder_name(str(speaker)), str(text))
        chats.append(chat)
    return write_export(directory / "signal-export", chats)
