"""Writes WhatsApp "Export chat" files from scripted chats (for the demo, tests and benchmarks).

Written from the format facts (line grammar, invisible marks, markers and system lines per locale);
no real export is copied. Every trap an ingester must handle can be produced: iPhone and Android
headers in any locale style (date order, 2/4-digit years, `/ . -` separators, 12 h clocks with
U+202F or NBSP, dotted times, Finnish `klo`, `13. 6. 2018.`), U+200E-marked system and media lines,
names wrapped in direction marks, `~ Name` non-contacts, multi-line bodies, localized markers
(en, es, de, pt), a BOM, CRLF line ends, the iPhone zip and localized Android file names.

`write_chat` streams lines to a file, so a benchmark can write a 200k-line export quickly:

    write_chat(path, synthetic_messages(200_000, ["Sam Rivera", "Maya Chen"]), ANDROID, "Maya Chen")
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from notme.samples.common import fake_secret, write_zip

LRM = "\u200e"
NNBSP = "\u202f"
NBSP = "\u00a0"


@dataclass(frozen=True)
class Style:
    """How one phone writes its headers. iPhone: `[date, time] `, seconds; Android: `date, time - `."""

    ios: bool = False
    order: str = "DMY"  # DMY, MDY or YMD
    year_digits: int = 4
    date_sep: str = "/"
    pad_date: bool = True  # "06/01/2025" rather than "6/1/2025"
    spaced_date: bool = False  # "13. 6. 2018." (Hungarian, Croatian)
    clock: int = 24
    am_pm: tuple[str, str] = ("AM", "PM")
    am_pm_space: str = " "  # U+202F in exports since 2023; "" for "9:05PM"
    time_sep: str = ":"
    pad_hour: bool = True
    klo: bool = False  # Finnish "12.3.2022 klo 14.08.18"
    lang: str = "en"  # the language of system lines, markers and the file name


ANDROID = Style()  # 06/01/2025, 19:00 - Name: text
IOS = Style(ios=True, clock=12, am_pm_space=NNBSP, pad_hour=False)  # [06/01/2025, 7:00:00 PM] Name: text
US_ANDROID = Style(order="MDY", year_digits=2, pad_date=False, clock=12, pad_hour=False)  # 1/6/25, 7:00 PM - …
US_IOS = Style(ios=True, order="MDY", year_digits=2, pad_date=False, clock=12, pad_hour=False, am_pm_space=NNBSP)
GERMAN = Style(date_sep=".", year_digits=2, lang="de")  # 06.01.25, 19:00 - …
SPANISH = Style(pad_date=False, year_digits=2, clock=12, am_pm=(f"a.{NBSP}m.", f"p.{NBSP}m."), lang="es")
PORTUGUESE = Style(lang="pt")
FINNISH = Style(ios=True, date_sep=".", pad_date=False, time_sep=".", klo=True)  # [6.1.2025 klo 19.00.00]
HUNGARIAN = Style(ios=True, spaced_date=True, pad_date=False)  # [6. 1. 2025. 19:00:00]
YEAR_FIRST = Style(order="YMD", date_sep="-")  # 2025-01-06, 19:00 - …

_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "encrypted": "Messages and calls are end-to-end encrypted. No one outside of this chat, not even "
                     "WhatsApp, can read or listen to them.",
        "you_created": 'You created group "{group}"',
        "created": '{who} created group "{group}"',
        "added": "{who} added {whom}",
        "left": "{who} left",
        "subject": '{who} changed the subject from "{old}" to "{new}"',
        "joined": "{who} joined using this group's invite link",
        "security": "Your security code with {whom} changed. Tap to learn more.",
        "media_android": "<Media omitted>",
        "media_ios": "image omitted",
        "deleted": "This message was deleted",
        "deleted_mine": "You deleted this message",
        "edited": "<This message was edited>",
        "attached": "<attached: {file}>",
        "file_attached": "{file} (file attached)",
        "missed_call": "Missed voice call",
        "location": "location: https://maps.google.com/?q=38.7139,-9.1334",
        "forwarded": "[Forwarded]",
        "view_once": "null",
        "file_name": "WhatsApp Chat with {name}.txt",
    },
    "es": {
        "encrypted": "Los mensajes y las llamadas están cifrados de extremo a extremo. Nadie fuera de este "
                     "chat, ni siquiera WhatsApp, puede leerlos ni escucharlos.",
        "you_created": 'Creaste el grupo "{group}"',
        "created": '{who} creó el grupo "{group}"',
        "added": "{who} añadió a {whom}",
        "left": "{who} salió del grupo",
        "subject": '{who} cambió el asunto de "{old}" a "{new}"',
        "joined": "{who} se unió usando el enlace de invitación de este grupo",
        "security": "Cambió tu código de seguridad con {whom}. Toca para obtener más información.",
        "media_android": "<Multimedia omitido>",
        "media_ios": "imagen omitida",
        "deleted": "Se eliminó este mensaje",
        "deleted_mine": "Eliminaste este mensaje",
        "edited": "<Este mensaje fue editado>",
        "attached": "<adjunto: {file}>",
        "file_attached": "{file} (archivo adjunto)",
        "missed_call": "Llamada perdida",
        "location": "ubicación: https://maps.google.com/?q=40.4168,-3.7038",
        "forwarded": "[Reenviado]",
        "view_once": "null",
        "file_name": "Chat de WhatsApp con {name}.txt",
    },
    "de": {
        "encrypted": "Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand außerhalb dieses Chats, "
                     "nicht einmal WhatsApp, kann sie lesen oder anhören.",
        "you_created": "Du hast die Gruppe „{group}“ erstellt",
        "created": "{who} hat die Gruppe „{group}“ erstellt",
        "added": "{who} hat {whom} hinzugefügt",
        "left": "{who} hat die Gruppe verlassen",
        "subject": "{who} hat den Betreff von „{old}“ zu „{new}“ geändert",
        "joined": "{who} ist über den Einladungslink dieser Gruppe beigetreten",
        "security": "Deine Sicherheitsnummer für {whom} hat sich geändert. Tippe, um mehr zu erfahren.",
        "media_android": "<Medien ausgeschlossen>",
        "media_ios": "Bild weggelassen",
        "deleted": "Diese Nachricht wurde gelöscht",
        "deleted_mine": "Du hast diese Nachricht gelöscht",
        "edited": "<Diese Nachricht wurde bearbeitet>",
        "attached": "<Anhang: {file}>",
        "file_attached": "{file} (Datei angehängt)",
        "missed_call": "Verpasster Sprachanruf",
        "location": "Standort: https://maps.google.com/?q=52.5200,13.4050",
        "forwarded": "[Weitergeleitet]",
        "view_once": "null",
        "file_name": "WhatsApp Chat mit {name}.txt",
    },
    "pt": {
        "encrypted": "As mensagens e as chamadas são protegidas com a criptografia de ponta a ponta e ficam "
                     "somente entre você e os participantes desta conversa.",
        "you_created": 'Você criou o grupo "{group}"',
        "created": '{who} criou o grupo "{group}"',
        "added": "{who} adicionou {whom}",
        "left": "{who} saiu",
        "subject": '{who} mudou o assunto de "{old}" para "{new}"',
        "joined": "{who} entrou usando o link de convite deste grupo",
        "security": "Seu código de segurança com {whom} mudou. Toque para saber mais.",
        "media_android": "<Mídia oculta>",
        "media_ios": "imagem ocultada",
        "deleted": "Esta mensagem foi apagada",
        "deleted_mine": "Você apagou esta mensagem",
        "edited": "<Mensagem editada>",
        "attached": "<anexado: {file}>",
        "file_attached": "{file} (arquivo anexado)",
        "missed_call": "Chamada de voz perdida",
        "location": "localização: https://maps.google.com/?q=38.7223,-9.1393",
        "forwarded": "[Encaminhada]",
        "view_once": "null",
        "file_name": "Conversa do WhatsApp com {name}.txt",
    },
}
CHINESE_FILE_NAME = "与{name}的 WhatsApp 聊天.txt"


def phrase(lang: str, key: str, **fields: str) -> str:
    return _PHRASES[lang][key].format(**fields)


def format_header(moment: datetime, style: Style) -> str:
    """The start of a message line, up to the author: `[date, time] ` or `date, time - `."""
    day, month = moment.day, moment.month
    year = f"{moment.year % 100:02d}" if style.year_digits == 2 else str(moment.year)
    d, m = (f"{day:02d}", f"{month:02d}") if style.pad_date else (str(day), str(month))
    fields = {"DMY": (d, m, year), "MDY": (m, d, year), "YMD": (year, m, d)}[style.order]
    date = f"{fields[0]}. {fields[1]}. {fields[2]}." if style.spaced_date else style.date_sep.join(fields)
    hour, suffix = moment.hour, ""
    if style.clock == 12:
        suffix = style.am_pm_space + style.am_pm[hour >= 12]
        hour = hour % 12 or 12
    sep = style.time_sep
    time = f"{hour:02d}" if style.pad_hour else str(hour)
    time += f"{sep}{moment.minute:02d}"
    if style.ios:
        time += f"{sep}{moment.second:02d}"
    joiner = " klo " if style.klo else (" " if style.spaced_date else ", ")
    if style.ios:
        return f"[{date}{joiner}{time}{suffix}] "
    return f"{date}{joiner}{time}{suffix} - "


@dataclass
class Line:
    """One exported message. `author` None: a system line (iPhone writes the chat's name and U+200E
    instead). `lead` goes before the header (iPhone starts attachment lines with U+200E)."""

    when: datetime
    author: str | None
    text: str
    lead: str = ""


def render(line: Line, style: Style, chat_name: str) -> str:
    header = line.lead + format_header(line.when, style)
    if line.author is None:
        if style.ios:
            return f"{header}{chat_name}: {LRM}{line.text}"
        return header + line.text
    return f"{header}{line.author}: {line.text}"


def write_chat(path: Path, lines: Iterable[Line | str], style: Style, chat_name: str, *,
               bom: bool = False, newline: str = "\n") -> Path:
    """Stream an export's lines to `path` (a str is written as it is: a raw line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        if bom:
            out.write("\ufeff")
        for line in lines:
            text = line if isinstance(line, str) else render(line, style, chat_name)
            out.write(text.replace("\n", newline) + newline)
    return path


def synthetic_messages(count: int, speakers: Sequence[str], start: datetime = datetime(2023, 3, 1, 8, 0),
                       seed: int = 0) -> Iterator[Line]:
    """`count` deterministic messages between `speakers`, about a minute apart; every 10th has two lines."""
    rng = random.Random(seed)
    words = ("ok", "sure", "later", "dinner", "train", "climbing", "tonight", "tomorrow", "call", "the",
             "at", "is", "late", "home", "coffee", "weekend", "again", "yes", "no", "maybe")
    moment = start
    for index in range(count):
        moment += timedelta(seconds=rng.randint(5, 110))
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        if index % 10 == 9:
            text += "\n" + " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        yield Line(moment, speakers[rng.randrange(len(speakers))], f"{text} {index}")


class WhatsAppChat:
    """One chat as the phone would export it. Each call appends a line a `step` after the last one
    (or at `at`); markers are written in the style's language, with iPhone's U+200E where it puts them."""

    def __init__(self, name: str, style: Style = ANDROID, start: datetime = datetime(2025, 1, 6, 19, 0),
                 step: timedelta = timedelta(minutes=1)) -> None:
        self.name = name
        self.style = style
        self.clock = start - step
        self.step = step
        self.lines: list[Line | str] = []

    def _phrase(self, key: str, **fields: str) -> str:
        return phrase(self.style.lang, key, **fields)

    def _next(self, at: datetime | None) -> datetime:
        self.clock = at if at is not None else self.clock + self.step
        return self.clock

    def say(self, author: str, text: str, *, at: datetime | None = None, edited: bool = False,
            lead: str = "") -> Line:
        if edited:
            text += (f" {LRM}" if self.style.ios else " ") + self._phrase("edited")
        line = Line(self._next(at), author, text, lead)
        self.lines.append(line)
        return line

    def system(self, key: str, *, at: datetime | None = None, **fields: str) -> Line:
        """A system line: a phrase key ("added", "left"…) with its fields, or literal text."""
        text = self._phrase(key, **fields) if key in _PHRASES[self.style.lang] else key
        line = Line(self._next(at), None, text)
        self.lines.append(line)
        return line

    def encryption_notice(self, at: datetime | None = None) -> Line:
        text = self._phrase("encrypted") + ("" if self.style.ios else " Tap to learn more.")
        return self.system(text, at=at)

    def _marker(self, author: str, text: str, at: datetime | None, lead: str = "") -> Line:
        return self.say(author, (LRM + text) if self.style.ios else text, at=at, lead=lead)

    def media(self, author: str, at: datetime | None = None) -> Line:
        """A photo exported without media."""
        return self._marker(author, self._phrase("media_ios" if self.style.ios else "media_android"), at)

    def attachment(self, author: str, file_name: str, caption: str = "", at: datetime | None = None) -> Line:
        """A file exported with media: iPhone `<attached: f>`, Android `f (file attached)`; caption below."""
        if self.style.ios:
            text = self._phrase("attached", file=file_name) + (f" {caption}" if caption else "")
            return self._marker(author, text, at, lead=LRM)
        text = self._phrase("file_attached", file=file_name) + (f"\n{caption}" if caption else "")
        return self.say(author, text, at=at)

    def deleted(self, author: str, *, mine: bool = False, at: datetime | None = None) -> Line:
        return self._marker(author, self._phrase("deleted_mine" if mine else "deleted"), at)

    def view_once(self, author: str, at: datetime | None = None) -> Line:
        return self.say(author, self._phrase("view_once"), at=at)

    def missed_call(self, author: str, at: datetime | None = None) -> Line:
        return self._marker(author, self._phrase("missed_call"), at)

    def location(self, author: str, at: datetime | None = None) -> Line:
        return self.say(author, self._phrase("location"), at=at)

    def forwarded(self, author: str, text: str, at: datetime | None = None) -> Line:
        return self.say(author, f"{self._phrase('forwarded')} {text}", at=at)

    def poll(self, author: str, question: str, options: Sequence[str], at: datetime | None = None) -> Line:
        body = "\n".join(["POLL:", question, *(f"OPTION: {o} (0 votes)" for o in options)])
        return self.say(author, body, at=at)

    def raw(self, text: str) -> None:
        """A line written exactly as given (a preamble, a corrupt line…)."""
        self.lines.append(text)

    def render_lines(self) -> Iterator[str]:
        for line in self.lines:
            yield line if isinstance(line, str) else render(line, self.style, self.name)

    def text(self) -> str:
        return "".join(line + "\n" for line in self.render_lines())

    def file_name(self, chinese: bool = False) -> str:
        return (CHINESE_FILE_NAME if chinese else _PHRASES[self.style.lang]["file_name"]).format(name=self.name)

    def write_txt(self, directory: Path, file_name: str | None = None, *, bom: bool = False,
                  newline: str = "\n") -> Path:
        """Android: `WhatsApp Chat with <Name>.txt` (in the style's language)."""
        return write_chat(directory / (file_name or self.file_name()), self.lines, self.style, self.name,
                          bom=bom, newline=newline)

    def write_zip(self, directory: Path, zip_name: str | None = None, *, media: dict[str, bytes] | None = None,
                  bom: bool = False) -> Path:
        """iPhone: `WhatsApp Chat - <Name>.zip` holding `_chat.txt` and the media files."""
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / (zip_name or f"WhatsApp Chat - {self.name}.zip")
        return write_zip(target, {"_chat.txt": ("\ufeff" if bom else "") + self.text(), **(media or {})})



def _session_start(index: int, offset_hours: int) -> datetime:
    """A session every few days from 2025-01-06, in the evening (the owner's wall clock)."""
    return datetime(2025, 1, 6, 19, 0) + timedelta(days=3 * index + index % 2, hours=offset_hours,
                                                   minutes=7 * (index % 5))


def _play(chat: WhatsAppChat, sessions: Sequence[Sequence[dict[str, Any]]], owner: str, contact: str | None,
          offset_hours: int, quirks: dict[tuple[int, int], str]) -> None:
    """The persona's sessions as lines, messages a minute or two apart; `quirks[(session, turn)]` adds
    one of the format's quirks before that turn."""
    edit_next_of_mine = False
    for number, session in enumerate(sessions):
        moment = _session_start(number, offset_hours)
        for turn_number, turn in enumerate(session):
            ((who, text),) = turn.items()
            author = owner if who == "me" else (contact if who == "them" and contact else who)
            quirk = quirks.get((number, turn_number))
            if quirk == "media":
                chat.media(contact or author, at=moment)
                moment += timedelta(minutes=1)
            elif quirk == "deleted":
                chat.deleted(contact or author, at=moment)
                moment += timedelta(minutes=1)
            elif quirk == "multiline":
                chat.say(owner, "list for the weekend:\n- chalk\n- tape\n\n- the good snacks", at=moment)
                moment += timedelta(minutes=1)
            elif quirk == "secret":
                chat.say(owner, f"the wifi box wants an api key, use {fake_secret('whatsapp-sample')}", at=moment)
                moment += timedelta(minutes=1)
            elif quirk == "edited":
                edit_next_of_mine = True  # the owner's next message
            edited = edit_next_of_mine and author == owner
            edit_next_of_mine = edit_next_of_mine and not edited
            chat.say(author, str(text), at=moment, edited=edited)
            moment += timedelta(minutes=1 + (turn_number % 2))


def write_sample(directory: Path, contacts: Sequence[dict[str, Any]], groups: Sequence[dict[str, Any]],
                 owner: dict[str, Any]) -> Path:
    """The persona's WhatsApp chats as the owner would export them, in one folder: the first contact
    as an iPhone zip (12 h clock with U+202F, U+200E system lines), each other contact as an Android
    24 h D/M/Y .txt, each group as an Android .txt. Sprinkled in: a media placeholder, a deleted
    message, an edited marker, a multi-line message, an API key, system lines. Returns the folder.

    `owner` is the persona (its `owner` name; `name` also works)."""
    owner_name = str(owner.get("owner") or owner.get("name") or "Me")
    directory.mkdir(parents=True, exist_ok=True)
    for index, contact in enumerate(contacts):
        name = str(contact["name"])
        chat = WhatsAppChat(name, IOS if index == 0 else ANDROID)
        chat.encryption_notice(at=_session_start(0, index) - timedelta(minutes=5))
        sessions = contact.get("sessions") or []
        quirks = {(0, 1): "media", (1, 0): "edited", (1, 1): "multiline", (2, 1): "deleted"}
        if index == 0:
            quirks[(0, 2)] = "secret"
        _play(chat, sessions, owner_name, name, index, quirks)
        if index == 0:
            chat.system("security", whom=name)
            chat.write_zip(directory)
        else:
            chat.write_txt(directory)
    for number, group in enumerate(groups):
        name = str(group["name"])
        chat = WhatsAppChat(name, ANDROID)
        start = _session_start(0, 3 + number) - timedelta(minutes=10)
        chat.encryption_notice(at=start)
        chat.system("you_created", group=name)
        for member in group.get("members") or []:
            chat.system("added", who="You", whom=str(member))
        _play(chat, group.get("sessions") or [], owner_name, None, 3 + number,
              {(0, 1): "media", (1, 1): "multiline"})
        chat.write_txt(directory)
    return directory

