"""Signal, which has no export of its own, through the two tools people use:

- signal-export (`sigexport`): a folder per chat with `data.json` (JSON Lines, one message a line),
  `chat.md`, `index.html` and `media/`. The owner is the sender "Me". Times are naive local
  wall-clock times. The folder name is the chat's name and its id.
- signalbackup-tools `--exporttxt`: a `<Name> (_id<thread>).txt` per thread with
  `[Mon DD, YYYY HH:MM:SS] <Name> body` lines. The owner appears under their own name, so it is
  told by `--me` (or, with no name known, it is the other speaker of the 1:1 threads named after
  their contact).

Message ids hash the time as written, whether the owner wrote it and the text (never the UTC time
or the sender's name), so the same export read in another --timezone, or after a contact was
renamed, adds nothing. In the hour that repeats when clocks go back, a time earlier than the one
before it is read as the second pass through that hour.

Calls, deleted messages, stickers, attachments with no caption, polls, status lines and rows with no
sender are left out and counted; quoted replies and appended reactions are cut from the body.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from notme.corpus.schema import Conversation, Message, derived_message_id
from notme.corpus.timestamps import WallClock
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester, owner_from_chat_names
from notme.ingest.inputs import InputTree, basename
from notme.ingest.jsonstream import json_lines

_DATA_FILE = "data.json"
# The first line of a sigexport data.json: {"date": "2025-01-06T18:30:00", "sender": …
_SIGEXPORT_HEAD = re.compile(r'^\s*\{\s*"date"\s*:\s*"\d{4}-\d{2}-\d{2}T[^"]*"\s*,\s*"sender"\s*:')
# Files sigexport writes in each chat folder (and media/), and beside the chat folders.
_CHAT_FILES = {_DATA_FILE, "chat.md", "index.html"}
_ROOT_FILES = {"style.css", "chat.js"}
_STICKER_FOLDER = "exported_stickers"

_TXT_FILE = re.compile(r"^(?P<name>.*) \(_id(?P<thread>\d+)\)\.txt$")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_TXT_LINE = re.compile(
    r"^\[(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2}), (?P<year>\d{4}) "
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})\] (?P<rest>.*)$"
)
_TXT_SPEECH = re.compile(r"^<(?P<name>[^<>]*)> (?P<body>.*)$", re.DOTALL)
_TXT_SENT_FILE = re.compile(r"^<[^<>]*> sent file\b")
# Reactions signalbackup-tools appends to a body: " (Ana: 👍; Rui: ❤️)". The emoji part holds no
# ASCII (keycaps aside), so "(note: yes)" typed by a person is left alone.
_EMOJI = r"(?:[^\x00-\x7f\s;()]|[#*0-9](?=\ufe0f|\u20e3))+"
_TXT_REACTIONS = re.compile(rf" \((?:[^:;()\n]+: {_EMOJI})(?:; [^:;()\n]+: {_EMOJI})*\)\Z")

# The body sigexport synthesizes for a call row (older versions set no `call` flag).
_CALL_BODY = re.compile(
    r"^(?:(?:Incoming|Outgoing) (?:(?:voice|video|group) )?call(?: \([a-z ]+(?:, (?:\d+m )?\d+s)?\))?"
    r"|Missed (?:(?:voice|video|group) )?call)$"
)


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


class Signal(Ingester):
    name = "signal"
    title = "Signal (signal-export or signalbackup-tools)"
    kind = "messaging"
    priority = 10
    how_to_export = ("Signal has no export: run `sigexport OUTDIR` (PyPI signal-export) on Signal Desktop, "
                     "or `signalbackup-tools BACKUP PASSPHRASE --exporttxt OUTDIR` on an Android backup "
                     "(then pass --me with your Signal name); pass the output folder")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        chat_folders = {_parent(n) for n in names if basename(n) == _DATA_FILE and self._is_sigexport(tree, n)}
        # The output folder above the chat folders holds sigexport's stylesheet and stickers.
        roots = {_parent(f) for f in chat_folders if f}
        sticker_folders = tuple(f"{r}/{_STICKER_FOLDER}/" if r else f"{_STICKER_FOLDER}/" for r in roots)
        return [
            name for name in names
            if self._inside(name, chat_folders)
            or (_parent(name) in roots and basename(name) in _ROOT_FILES)
            or name.startswith(sticker_folders)
            or (_TXT_FILE.match(basename(name)) and self._is_txt(tree, name))
        ]

    @staticmethod
    def _inside(name: str, folders: set[str]) -> bool:
        """Whether `name` is one of the files sigexport writes in a chat folder (its media included).

        Only those: a chat folder can be the root of a folder that also holds other exports."""
        folder, _, file_name = name.rpartition("/")
        if folder in folders and file_name in _CHAT_FILES:
            return True
        parts = name.split("/")
        return any("/".join(parts[:i]) in folders and parts[i] == "media" for i in range(len(parts) - 1))

    @staticmethod
    def _is_sigexport(tree: InputTree, name: str) -> bool:
        return bool(_SIGEXPORT_HEAD.match(tree.head_text(name, 4096)))

    @staticmethod
    def _is_txt(tree: InputTree, name: str) -> bool:
        head = tree.head_text(name, 4096)
        first = next((line for line in head.splitlines() if line.strip()), "")
        return not first or bool(_TXT_LINE.match(first))

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        data_files = sorted(n for n in entries if basename(n) == _DATA_FILE)
        txt_files = sorted(n for n in entries if _TXT_FILE.match(basename(n)))
        if not data_files and not txt_files:  # only when forced with --source signal
            raise InputError(tree.path, "no signal-export data.json and no signalbackup-tools "
                                        "'<Name> (_id<N>).txt' file here")
        if data_files:
            ctx.owner_basis = 'sender "Me"'
        for name in data_files:
            yield self._sigexport_chat(tree, name, ctx)
        if txt_files:
            yield from self._txt_threads(tree, txt_files, ctx)

    # ---------------------------------------------------------------- signal-export

    @staticmethod
    def _chat_name(tree: InputTree, name: str) -> str:
        """The chat folder's name (sigexport names it after the chat). The pipeline resolves input
        paths, so "." and a relative `data.json` have their folder's real name."""
        folder = _parent(name)
        if folder:
            return PurePosixPath(folder).name
        if tree.kind == "dir":
            return tree.path.name
        if tree.kind == "zip":
            return tree.path.stem
        return tree.path.parent.name  # the data.json file itself: its folder is the chat

    def _sigexport_chat(self, tree: InputTree, name: str, ctx: IngestContext) -> Conversation:
        display = tree.display(name)
        chat_name = self._chat_name(tree, name).strip()
        if not chat_name:  # an empty name would make every such chat the same conversation, "signal:"
            raise InputError(display, "cannot tell which chat this is: pass the chat's folder as sigexport "
                                      "wrote it (the folder is named after the chat)")
        clock = WallClock(ctx.zone)
        conversation = Conversation(
            id=f"signal:{chat_name}", source=self.name, title=chat_name, messages=[], kind="messaging",
            extra={"timezone_assumed": str(ctx.zone)},
        )
        good_lines = bad_lines = 0
        first_bad = ""
        senders: dict[str, None] = {}  # everyone who wrote a row, kept or not, in order
        with tree.open(name) as stream:
            for number, row in json_lines(stream, display, skip_bad=True):
                if row is None:
                    bad_lines += 1
                    first_bad = first_bad or f"line {number}"
                    ctx.malformed(display, f"line {number}", "not a valid JSON line")
                    continue
                good_lines += 1
                if isinstance(row, dict) and isinstance(row.get("sender"), str):
                    senders[row["sender"]] = None
                message = self._sigexport_message(row, conversation, display, number, ctx, clock)
                if message is not None:
                    conversation.messages.append(message)
        if bad_lines and not good_lines:
            raise InputError(display, "no line is valid JSON: not a signal-export data.json, or corrupt",
                             where=first_bad)
        others = [s for s in senders if s not in ("Me", "No-Sender")]
        conversation.is_group = len(others) > 1
        conversation.participants = ["Me", *others]
        return conversation

    @staticmethod
    def _sigexport_message(row: Any, conversation: Conversation, display: str, number: int,
                           ctx: IngestContext, clock: WallClock) -> Message | None:
        if not isinstance(row, dict):
            ctx.malformed(display, f"line {number}", "row is not an object")
            return None
        sender, body = row.get("sender"), row.get("body")
        if not isinstance(sender, str) or not isinstance(row.get("date"), str):
            ctx.malformed(display, f"line {number}", "row without date or sender")
            return None
        body = body if isinstance(body, str) else ""
        body = body[:-2] if body.endswith("  ") else body  # sigexport appends two spaces to every body
        quote = row.get("quote")
        if isinstance(quote, str) and quote.strip():
            # The quoted message is someone else's text: keep only the reply (older rows carry it inline).
            for form in (quote, quote.lstrip("\n")):
                if body.startswith(form):
                    body = body[len(form):]
                    break
        skip = None
        if sender == "No-Sender":
            skip = "system line"
        elif row.get("deleted"):
            skip = "deleted message"
        elif row.get("call") or (not row.get("attachments") and _CALL_BODY.match(body.strip())):
            skip = "call"
        elif not body.strip():
            if row.get("sticker"):
                skip = "sticker"
            elif row.get("attachments"):
                skip = "media placeholder"
            else:
                skip = "empty"
        if skip:
            conversation.skipped[skip] += 1
            return None
        is_me = sender == "Me"
        message = Message(speaker=sender, is_me=is_me, text=body, timestamp=clock.utc_of_iso(row["date"]),
                          id=derived_message_id(row["date"], is_me, body))
        reactions = row.get("reactions")
        if isinstance(reactions, list):
            emojis = [r[1] for r in reactions if isinstance(r, list | tuple) and len(r) == 2 and isinstance(r[1], str)]
            if emojis:
                message.extra["reactions"] = emojis
        return message

    # ---------------------------------------------------------------- signalbackup-tools

    def _txt_threads(self, tree: InputTree, names: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        inferred = None if ctx.owner else self._infer_owner(tree, names)
        if inferred:
            ctx.inferred_owner.append(inferred)
            ctx.owner_basis = "inferred: the other speaker of a thread named after its contact"
        elif ctx.owner_basis is None:
            ctx.owner_basis = "named by --me"
        for name in names:
            match = _TXT_FILE.match(basename(name))
            assert match is not None
            display = tree.display(name)
            conversation = Conversation(
                id=f"signal:thread-{match['thread']}", source=self.name, title=match["name"], messages=[],
                kind="messaging", extra={"timezone_assumed": str(ctx.zone)},
            )
            speakers: dict[str, bool] = {}
            clock = WallClock(ctx.zone)
            for moment, speaker, body in _txt_records(tree, name, conversation.skipped,
                                                      functools.partial(ctx.malformed, display)):
                if speaker not in speakers:
                    speakers[speaker] = ctx.is_owner_named(speaker) or speaker == inferred
                is_me = speakers[speaker]
                conversation.messages.append(Message(
                    speaker=speaker, is_me=is_me, text=body, timestamp=clock.utc(moment),
                    id=derived_message_id(moment.isoformat(), is_me, body)))
            conversation.is_group = sum(not mine for mine in speakers.values()) > 1
            conversation.participants = list(speakers)
            yield conversation

    @staticmethod
    def _infer_owner(tree: InputTree, names: list[str]) -> str | None:
        """The other speaker of the 1:1 threads named after their contact (a thread's file is named
        after it), when every such thread names the same person. Used only when the owner has no
        name yet (no --me, none stored)."""
        threads = []
        for name in names:
            match = _TXT_FILE.match(basename(name))
            assert match is not None
            records = _txt_records(tree, name, Counter(), lambda *_: None, counted=False)  # the bar counts one read
            speakers = {speaker: None for _, speaker, _ in records}
            threads.append((match["name"], speakers, len(speakers) > 2))
        return owner_from_chat_names(threads)


def _txt_records(tree: InputTree, name: str, skipped: Counter[str], malformed: Callable[[str, str], None],
                 counted: bool = True) -> Iterator[tuple[datetime, str, str]]:
    """(local time, speaker, body) per message of a signalbackup-tools txt file; status, call, file
    and poll lines are counted in `skipped`, lines that fit no shape go to `malformed`."""
    current: list[Any] | None = None  # [moment, speaker, body lines] of the message being read
    swallowing = False  # the lines after a status line or a poll question belong to it

    def finish() -> tuple[datetime, str, str] | None:
        if current is None:
            return None
        body = _TXT_REACTIONS.sub("", "\n".join(current[2]))
        return (current[0], current[1], body) if body.strip() else None

    with tree.open(name, counted) as stream:
        for number, raw in enumerate(stream, start=1):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if number == 1:
                line = line.lstrip("\ufeff")
            match = _TXT_LINE.match(line)
            if match is None:
                if current is not None:
                    current[2].append(line)  # a body that runs over several lines
                elif line.strip() and not swallowing:
                    malformed(f"line {number}", "text before the first dated line")
                continue
            done = finish()
            if done:
                yield done
            current, swallowing = None, True
            moment = _txt_time(match)
            rest = match["rest"]
            if moment is None:
                malformed(f"line {number}", "a line with an impossible date")
                continue
            if rest.startswith("***"):
                status = rest[3:].strip()
                if _TXT_SENT_FILE.match(status):
                    skipped["media placeholder"] += 1
                elif re.search(r"\bcall\b", status, re.IGNORECASE):
                    skipped["call"] += 1
                else:
                    skipped["system line"] += 1
                continue
            speech = _TXT_SPEECH.match(rest)
            if speech is None:
                malformed(f"line {number}", "a dated line without a <sender>")
                continue
            if speech["body"].startswith("Poll: "):
                skipped["poll"] += 1
                continue
            current, swallowing = [moment, speech["name"], [speech["body"]]], False
    done = finish()
    if done:
        yield done


def _txt_time(match: re.Match[str]) -> datetime | None:
    month = _MONTHS.get(match["month"])
    if month is None:
        return None
    try:
        return datetime(int(match["year"]), month, int(match["day"]), int(match["h"]), int(match["m"]), int(match["s"]))
    except ValueError:
        return None
