"""WhatsApp "Export chat": one text file per chat.

iPhone gives `WhatsApp Chat - <Name>.zip` holding `_chat.txt` (plus media); Android gives
`WhatsApp Chat with <Name>.txt` (names localized). A .txt is claimed by its first lines, never by
its name alone. Lines look like

    [31/12/2024, 9:05:09 PM] Name: text        (iPhone: brackets, seconds)
    31/12/2024, 21:05 - Name: text             (Android: " - ", no seconds)

with every locale's date order, year width, separators, 12/24 h clock and AM/PM spelling. Every chat
of an input is scanned first (pass one: its header lines, the date order they tell, how often each
possible name prefix occurs, for names holding ": "); then the date orders and the owner are settled
across all chats, and each chat is built (pass two). A first field over 12 means day first, a second
one month first; a two-digit first field that never goes down while the last one does is a year
(YY/MM/DD). A chat whose dates cannot tell takes the order of another chat of the same phone in this
input, else day first (month first in a US time zone), and says so in `extra["date_order"]`.

Times are the phone's wall clock: read in `ctx.zone` (`extra["timezone_assumed"]`); in the hour that
repeats when clocks go back, a time earlier than the one before is the second pass. There is no
owner flag: speakers are matched against --me, or, with no name known, the owner is inferred as the
other speaker of the 1:1 chats named after their contact (or the author of "You deleted this
message"). System lines, media placeholders, deleted and view-once messages, calls, shared
locations, polls and forwarded messages are left out and counted.

The conversation id is `whatsapp:<chat name>`, so an updated export of the same chat merges with
what is stored (the store unions messaging chats, so messages WhatsApp has since dropped stay).
Message ids hash the time as written, the owner flag and the text, so that reading the same export
in another time zone, or after a contact was renamed, adds nothing.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, NamedTuple

from notme.corpus.schema import Conversation, Message, derived_message_id
from notme.corpus.text import normalize_identity, strip_invisible
from notme.corpus.timestamps import WallClock
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester, owner_from_chat_names
from notme.ingest.inputs import InputTree, basename

# ---------------------------------------------------------------------------------------- grammar

# Matched after the exporter's invisible marks are stripped; \s also takes U+00A0, U+202F, U+2009.
_HEADER = re.compile(
    r"(?P<open>\[)?"
    r"(?P<d1>\d{1,4})\s?(?P<sep>[./-])\s?(?P<d2>\d{1,2})\s?(?P=sep)\s?(?P<d3>\d{1,4})\.?"
    r"(?:,\s*|\s+)(?:klo\s+)?"
    r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?"
    r"(?:\s?(?P<ampm>[AaPp]\.?\s?[Mm]\.?))?"
    r"(?(open)\]\s?|\s[-–]\s)"
    r"(?P<rest>.*)"
)
_MAX_NAME = 80  # a longer "name" before ": " is text, not a speaker

_CHAT_FILE_NAMES = [
    re.compile(p, re.IGNORECASE) for p in (
        r"^WhatsApp Chat\s*[-–]\s*(?P<n>.+)$",  # the iPhone zip
        r"^WhatsApp[- ]Chat (?:with|mit|met|med|con|com|avec|z|ze|s|с|ile)\s+(?P<n>.+)$",
        r"^(?:Conversa do WhatsApp com|Chat de WhatsApp con|Conversación de WhatsApp con|"
        r"Discussion WhatsApp avec|Chat WhatsApp con|Chat di WhatsApp con)\s+(?P<n>.+)$",
        r"^与(?P<n>.+)的\s*WhatsApp\s*聊天$",
    )
]
_COPY_SUFFIX = re.compile(r"\s*\(\d+\)$")
_MEDIA_FILE = re.compile(
    r"^(?:\d{8}-(?:PHOTO|VIDEO|AUDIO|STICKER|GIF|DOCUMENT|CONTACT|FILE)-|"
    r"(?:IMG|VID|AUD|PTT|STK|DOC|AUDIO)-\d{8}-WA\d{4})"
)
_OTHER_EXPORT_FILE = re.compile(r"\.(?:json|jsonl|db|sqlite|html|csv)$", re.IGNORECASE)

# ------------------------------------------------------------------------------ phrase tables
# English plus Spanish, German and Portuguese (and a few French/Italian), as WhatsApp writes them.

_I = re.IGNORECASE
# Notices that are never typed by anyone, whoever the export names as their author.
_NOTICE = re.compile(
    r"^(?:Messages and calls are end-to-end encrypted|Messages to this (?:group|chat) are now secured"
    r"|Los mensajes y las llamadas están cifrados de extremo a extremo"
    r"|Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt"
    r"|As mensagens e as chamadas são protegidas com a criptografia de ponta a ponta"
    r"|Les messages et les appels sont chiffrés de bout en bout"
    r"|Your security code with .+ changed|.+'s security code changed"
    r"|Tu código de seguridad con .+ cambió|Cambió (?:tu|el) código de seguridad"
    r"|Deine Sicherheitsnummer (?:für|mit) .+ hat sich geändert"
    r"|Seu código de segurança com .+ (?:mudou|foi alterado)"
    r"|This (?:chat|business) is with a business account|Disappearing messages were turned o(?:n|ff)"
    r"|You (?:un)?blocked this contact)",
    _I,
)
# Group events: a system line saying one of these marks the chat as a group.
_GROUP_EVENT = re.compile(
    r"(?:\bcreated (?:the )?group\b|\bcreated this group\b|\badded\b|\bremoved\b|\bleft$"
    r"|joined using this group's invite link|changed the subject|changed (?:this group's|the group) "
    r"(?:icon|description|name|settings)|deleted this group's icon|\bnow an admin\b"
    r"|\bcreó (?:el )?grupo|\bcreaste (?:el )?grupo|\ba[ñn]adió\b|\ba[ñn]adiste\b|\bagregó\b|\bsalió\b"
    r"|\bsaliste\b|\beliminó a\b|enlace de invitación|cambió el asunto|cambiaste el asunto"
    r"|cambió (?:el ícono|la descripción|el nombre) del grupo"
    r"|\bGruppe .+ erstellt|\bhinzugefügt\b|Gruppe verlassen|\bentfernt\b|Einladungslink|Betreff"
    r"|Gruppenbild|Gruppenbeschreibung"
    r"|\bcriou (?:o|este) grupo|\badicionou\b|\bsaiu\b|\bremoveu\b|link de convite|mudou o assunto"
    r"|(?:mudou|alterou) (?:o nome|a imagem|a descrição) do grupo)",
    _I,
)
_OTHER_EVENT = re.compile(
    r"(?:changed (?:their|your) phone number|changed to \+?\d|pinned a message"
    r"|turned (?:on|off) disappearing messages|cambió su número|hat die Nummer|mudou seu número)",
    _I,
)
# Only the owner's own deleted messages read like this: their author is the owner.
_OWN_DELETED_PHRASES = (r"You deleted this message|Eliminaste este mensaje|Du hast diese Nachricht gelöscht"
                        r"|Você apagou esta mensagem|Vous avez supprimé ce message|Hai eliminato questo messaggio")
_OWN_DELETED = re.compile(rf"^(?:{_OWN_DELETED_PHRASES})\.?$", _I)
_DELETED = re.compile(
    r"^(?:This message was deleted(?: by admin.*)?|Se eliminó este mensaje|Este mensaje fue eliminado"
    r"|Diese Nachricht wurde gelöscht|Esta mensagem foi apagada|Mensagem apagada|Ce message a été supprimé"
    rf"|Questo messaggio è stato eliminato|{_OWN_DELETED_PHRASES})\.?$",
    _I,
)
_MEDIA_OMITTED = re.compile(
    r"^(?:<(?:Media omitted|Multimedia omitido|Medien ausgeschlossen|Medien weggelassen|Mídia oculta"
    r"|Arquivo de mídia oculto|Médias omis|Media omessi|Media weggelaten)>"
    r"|(?:.* • )?(?:image|video|audio|sticker|GIF|document|Contact card|imagen|vídeo|documento"
    r"|tarjeta de contacto|Bild|Dokument|Kontaktkarte|imagem|áudio|figurinha|cartão de contato)"
    r" (?:omitted|omitid[oa]|weggelassen|ausgelassen|ocultad[oa]))$",
    _I,
)
_ATTACHED = re.compile(r"^<(?:attached|adjunto|Anhang|anexado|pièce jointe|allegato): [^>\n]+>\s*", _I)
_FILE_ATTACHED = re.compile(
    r"^[^\n]+ \((?:file attached|archivo adjunto|Datei angehängt|arquivo anexado|fichier joint"
    r"|file allegato|soubor byl přiložen)\)\s*",
    _I,
)
_VIEW_ONCE = re.compile(r"^(?:null|You received a view once message.*)$", _I)
_CALL = re.compile(
    r"^(?:Missed (?:group )?(?:voice|video) call|(?:Group )?(?:Voice|Video) call|Llamada (?:de voz |de video )?perdida"
    r"|Videollamada perdida|Llamada de voz|Videollamada|Verpasster (?:Sprach|Video)anruf|Sprachanruf|Videoanruf"
    r"|Chamada (?:de voz|de vídeo) perdida|Chamada de voz|Chamada de vídeo)(?:, .*)?$",
    _I,
)
_LOCATION = re.compile(
    r"^(?:(?:location|ubicación|Standort|localização|position|posizione): https?://\S+"
    r"|Live location shared|Ubicación en tiempo real compartida|Live-Standort geteilt"
    r"|Localização em tempo real compartilhada)$",
    _I,
)
_FORWARDED = re.compile(r"^\[(?:Forwarded|Reenviado|Weitergeleitet|Encaminhada|Transféré|Inoltrato)\]", _I)
_POLL = re.compile(r"^(?:POLL|ENCUESTA|UMFRAGE|ENQUETE|SONDAGGIO|SONDAGE):[ \t]*\n")
_UNDELIVERED = re.compile(
    r"^(?:Waiting for this message|Esperando (?:el|este) mensaje|Warten auf diese Nachricht"
    r"|Aguardando (?:esta )?mensagem)",
    _I,
)
_EDITED = re.compile(
    r"\s*<(?:This message was edited|Este mensaje fue editado|Diese Nachricht wurde bearbeitet"
    r"|Esta mensagem foi editada|Mensagem editada|Ce message a été modifié"
    r"|Questo messaggio è stato modificato)>$",
    _I,
)

_MARKERS = (_NOTICE, _DELETED, _MEDIA_OMITTED, _ATTACHED, _FILE_ATTACHED, _VIEW_ONCE, _CALL, _LOCATION,
            _FORWARDED, _POLL, _UNDELIVERED)
# One pass that tells whether any marker could apply: most messages are plain text.
_ANY_MARKER = re.compile("|".join(f"(?:{p.pattern})" for p in _MARKERS), _I)

# US zones write M/D/Y: the guess for a chat whose dates cannot tell.
_US_ZONES = re.compile(
    r"^(?:US/|America/(?:New_York|Chicago|Denver|Los_Angeles|Phoenix|Anchorage|Adak|Boise|Detroit|Juneau"
    r"|Sitka|Metlakatla|Nome|Yakutat|Menominee|Indiana/|Kentucky/|North_Dakota/|Puerto_Rico)|Pacific/Honolulu)"
)

# ------------------------------------------------------------------------------------ reading

# Pass one keeps the lines of the chats it read while they fit in this many bytes, so most inputs
# are read once; the chats past it are read again when they are built.
_KEEP_BYTES = 64 << 20


class _Style(NamedTuple):
    """How one phone writes its headers; every header of a file has the same."""

    bracketed: bool  # iPhone: "[date, time] Name: text"; Android: "date, time - Name: text"
    date_sep: str
    twelve_hour: bool
    seconds: bool
    year_first: bool  # a four-digit first field: "2025-01-16"


class _Order(NamedTuple):
    order: str  # "D/M/Y", "M/D/Y" or "Y/M/D"
    note: str  # how it was told, for extra["date_order"]
    certain: bool = True


class _Entry(NamedTuple):
    """One message of a file as written, before it is classified."""

    when: datetime  # the phone's wall clock
    name: str | None  # None: a system line
    text: str
    lrm: bool  # U+200E after the ": ": iPhone's mark of system and media lines
    index: int  # its header line's index


@dataclass
class _ChatFile:
    display: str
    chat_name: str  # from its file, zip or folder name ("" when they give none); settled in pass one
    file_name: str  # the file's own name, the last resort for the chat's name ("" for `_chat.txt`)
    open: Callable[[bool], IO[bytes]]  # the argument: whether the progress bar counts the bytes


@dataclass
class _Scan:
    """Pass one over a chat file: its header lines and what they tell (the rest is read in pass two)."""

    chat: _ChatFile
    # (the line without invisible marks, whether U+200E follows a ": ") per header line; lines, not
    # match objects, which are twice their size: pass two matches them again.
    headers: list[tuple[str, bool]] = field(default_factory=list)
    continuations: dict[int, list[str]] = field(default_factory=dict)  # header index → following lines
    support: Counter[str] = field(default_factory=Counter)  # possible name → lines it could start
    style: _Style | None = None
    day_first_votes: int = 0
    month_first_votes: int = 0
    # A two-digit year written first (YY/MM/DD) reads like a day over 12. Its first field never goes
    # down and its last one (a day) does at every new month, which a year written last never does.
    year_first_possible: bool = True
    last_went_down: bool = False
    previous_fields: tuple[int, int] | None = None  # (first, last) field of the previous header
    preamble: int = 0  # lines before the first header
    not_utf8: list[int] = field(default_factory=list)  # line numbers
    not_utf8_headers: set[int] = field(default_factory=set)  # header indices whose message holds one
    system_author: str = ""  # iPhone writes system lines under the chat's name
    size: int = 0  # bytes read

    def order(self) -> _Order | None:
        """The date order this file tells by itself."""
        assert self.style is not None
        if self.style.year_first:
            return _Order("Y/M/D", "Y/M/D")
        if self.year_first_possible and self.last_went_down:
            return _Order("Y/M/D", "Y/M/D (two-digit year first: the last field goes down like a day)")
        if self.day_first_votes >= self.month_first_votes and self.day_first_votes:
            if self.year_first_possible:
                return _Order("D/M/Y", "D/M/Y (could also be YY/MM/DD: the dates cannot tell)", certain=False)
            return _Order("D/M/Y", "D/M/Y")
        return _Order("M/D/Y", "M/D/Y") if self.month_first_votes else None

    def let_go(self) -> None:
        """Drop the lines (built, or past the memory budget: then the file is read again to build)."""
        self.headers, self.continuations, self.support = [], {}, Counter()


@dataclass
class _Tally:
    """Who speaks in a chat and whether it is a group, as its messages go by (what owner inference
    needs to know about a chat)."""

    speakers: dict[str, None] = field(default_factory=dict)
    group_event: bool = False
    own_deleted_by: set[str] = field(default_factory=set)

    def add(self, entry: _Entry, reason: str | None, text: str) -> None:
        if reason == "system line":
            self.group_event = self.group_event or bool(_GROUP_EVENT.search(text.partition("\n")[0]))
            return
        assert entry.name is not None
        self.speakers.setdefault(entry.name)
        if reason == "deleted message" and _OWN_DELETED.match(text):
            self.own_deleted_by.add(entry.name)

    @property
    def is_group(self) -> bool:
        return self.group_event or len(self.speakers) > 2


class WhatsApp(Ingester):
    name = "whatsapp"
    title = "WhatsApp chat export"
    kind = "messaging"
    priority = 10
    how_to_export = ("WhatsApp → open the chat → ⋮ / the chat's name → More → Export chat → Without media; "
                     "pass the .txt (Android), the .zip (iPhone) or a folder of them")

    # ------------------------------------------------------------------------------ detection

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        chats = [n for n in names if n.lower().endswith(".txt") and looks_like_chat(tree.head_text(n, 4096))]
        zips = [n for n in names if tree.kind == "dir" and n.lower().endswith(".zip")
                and _zip_chat_entries(tree.path / n, whole=True)]
        folders = {n.rpartition("/")[0] for n in chats}
        media = [n for n in names if n.rpartition("/")[0] in folders and _MEDIA_FILE.match(basename(n))]
        return chats + zips + media

    # -------------------------------------------------------------------------------- reading

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        chats = self._chat_files(tree, entries)
        if not chats:  # only when forced with --source whatsapp on something else
            raise InputError(tree.path, "no WhatsApp chat (.txt) here")
        tree.pass_over([n for n in entries if _MEDIA_FILE.match(basename(n))])  # part of the export, never read
        # Pass one reads every chat: a chat whose dates cannot tell their order takes it from another
        # chat of the same phone, and who the owner is can only be told from all chats together.
        scans: list[_Scan] = []
        speakers: list[tuple[str, _Tally]] = []
        kept_bytes = 0
        for chat in chats:
            scan = self._scan(chat, counted=True)
            if not ctx.owner:
                speakers.append((chat.chat_name, self._speakers(scan, ctx)))
            kept_bytes += scan.size
            if kept_bytes > _KEEP_BYTES:
                scan.let_go()
            scans.append(scan)
        orders = self._settle_orders(scans, ctx)
        inferred = None if ctx.owner else self._infer_owner(speakers, ctx)
        for scan, order in zip(scans, orders, strict=True):
            yield self._build(scan, order, ctx, inferred)

    def _chat_files(self, tree: InputTree, entries: list[str]) -> list[_ChatFile]:
        chats = []
        for name in sorted(entries):
            lower = name.lower()
            if lower.endswith(".zip") and tree.kind == "dir":
                chats += self._zip_chats(tree, name)
            elif lower.endswith(".txt") or tree.kind == "file":
                chats.append(_ChatFile(tree.display(name), _chat_name(tree, name), _file_name(name),
                                       _opener(tree, name)))
        return chats

    def _zip_chats(self, tree: InputTree, name: str) -> list[_ChatFile]:
        """The chats in a zip that sits in a folder. Read here rather than left to the registry (which
        would make each zip an input of its own) so that owner inference and date orders see every
        chat of the folder: a folder of iPhone zips is the usual way to hand over several chats."""
        path = tree.path / name
        display = tree.display(name)
        inner_chats = _zip_chat_entries(path)
        if not inner_chats:
            raise InputError(display, "not a readable zip archive, or no WhatsApp chat inside")
        chats = []
        for inner in inner_chats:
            parent = inner.rpartition("/")[0]
            label = basename(inner) if basename(inner).lower() != "_chat.txt" else basename(parent) or basename(name)
            opener = _zip_opener(path, inner, display, tree)
            chats.append(_ChatFile(f"{display}:{inner}", _name_from_label(label), _file_name(inner), opener))
        return chats

    # ------------------------------------------------------------------------- pass one: scan

    def _scan(self, chat: _ChatFile, counted: bool) -> _Scan:
        scan = _Scan(chat)
        headers, continuations, support = scan.headers, scan.continuations, scan.support
        header_match = _HEADER.match
        number = 0
        try:
            with chat.open(counted) as stream:
                for number, raw in enumerate(stream, 1):
                    scan.size += len(raw)
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        line = raw.decode("utf-8", errors="replace")
                        scan.not_utf8.append(number)
                    line = line.rstrip("\r\n")
                    clean = strip_invisible(line)
                    match = header_match(clean)
                    if match is not None and self._accept(scan, match):
                        lrm = ": \u200e" in line
                        headers.append((clean, lrm))
                        _count_names(match["rest"], support)
                        if lrm and not scan.system_author:
                            scan.system_author = _system_author(line, clean, match)
                    elif headers:
                        continuations.setdefault(len(headers) - 1, []).append(clean)
                    elif clean.strip():
                        scan.preamble += 1
                    if scan.not_utf8 and scan.not_utf8[-1] == number and headers:
                        scan.not_utf8_headers.add(len(headers) - 1)  # the message this line belongs to
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as e:
            raise InputError(chat.display, f"cannot be read ({e})", where=f"line {number + 1}") from e
        if not headers:
            raise InputError(chat.display, "no line of this file is a WhatsApp message (expected lines like "
                                           "'31/12/2024, 21:05 - Name: text' or '[31/12/2024, 21:05:09] Name: text')",
                             where="line 1")
        if not normalize_identity(chat.chat_name):
            # No file, zip or folder name says which chat this is (a bare `_chat.txt`, a renamed file):
            # an empty name would make every such chat the same conversation, "whatsapp:".
            chat.chat_name = scan.system_author or chat.file_name
            if not normalize_identity(chat.chat_name):
                raise InputError(chat.display, "cannot tell which chat this is: keep the export's file name "
                                               "('WhatsApp Chat with <name>.txt', or '_chat.txt' inside "
                                               "'WhatsApp Chat - <name>.zip') or its folder")
        return scan

    @staticmethod
    def _accept(scan: _Scan, match: re.Match[str]) -> bool:
        """A header of this file's style with a possible time; anything else is message text."""
        if int(match["hour"]) > 23 or int(match["minute"]) > 59 or int(match["second"] or 0) > 59:
            return False
        style = _Style(match["open"] is not None, match["sep"], match["ampm"] is not None,
                       match["second"] is not None, len(match["d1"]) == 4)
        if scan.style is None:
            scan.style = style
        elif style != scan.style:
            return False
        if not style.year_first:
            first, second, last = int(match["d1"]), int(match["d2"]), int(match["d3"])
            if first > 31 or second > 31 or first == 0 or second == 0:
                return False
            scan.day_first_votes += first > 12
            scan.month_first_votes += second > 12
            if scan.year_first_possible:
                previous = scan.previous_fields
                scan.year_first_possible = (len(match["d1"]) == 2 and first > 12 and second <= 12
                                            and len(match["d3"]) <= 2 and (previous is None or first >= previous[0]))
                scan.last_went_down = scan.last_went_down or (previous is not None and last < previous[1])
                scan.previous_fields = (first, last)
        return True

    @staticmethod
    def _settle_orders(scans: list[_Scan], ctx: IngestContext) -> list[_Order]:
        """Each chat's date order: its own when its dates tell, else that of a chat of the same phone
        (same header style) whose dates do, else a guess from the time zone, said in the note."""
        own = [scan.order() for scan in scans]
        learned: dict[_Style | None, str] = {}
        for scan, order in zip(scans, own, strict=True):
            if order is not None and order.certain:
                learned.setdefault(scan.style, order.order)
        settled = []
        for scan, order in zip(scans, own, strict=True):
            if order is not None and (order.certain or scan.style not in learned):
                settled.append(order)
            elif scan.style in learned:
                found = learned[scan.style]
                settled.append(_Order(found, f"{found} (from another chat of this export)"))
            elif _US_ZONES.match(str(ctx.zone)):
                settled.append(_Order("M/D/Y", "assumed M/D/Y (US time zone)"))
            else:
                settled.append(_Order("D/M/Y", "assumed D/M/Y"))
        return settled

    # ------------------------------------------------------------------------------- owner

    def _speakers(self, scan: _Scan, ctx: IngestContext) -> _Tally:
        """Who speaks in a chat, for owner inference. Read before the date orders are settled, in the
        file's own order or the zone's guess: the order only decides which impossible dates are text."""
        own = scan.order()
        order = own.order if own else ("M/D/Y" if _US_ZONES.match(str(ctx.zone)) else "D/M/Y")
        tally = _Tally()
        for entry, reason, text, _ in _classified(scan, order, self._is_known(scan, None, ctx)):
            tally.add(entry, reason, text)
        return tally

    @staticmethod
    def _infer_owner(chats: list[tuple[str, _Tally]], ctx: IngestContext) -> str | None:
        """The owner when no name is known: the other speaker of the 1:1 chats named after their
        contact; or, when no chat tells that, the author of "You deleted this message". When the
        two disagree, neither is trusted."""
        named = owner_from_chat_names((name, tally.speakers, tally.is_group) for name, tally in chats)
        deleters = {normalize_identity(n): n for _, tally in chats for n in tally.own_deleted_by}
        if named and set(deleters) <= {normalize_identity(named)}:
            owner, basis = named, "inferred: the other speaker of a chat named after its contact"
        elif not named and len(deleters) == 1:
            (owner,) = deleters.values()
            basis = "inferred: the author of 'You deleted this message'"
        else:
            return None
        ctx.inferred_owner.append(owner)
        ctx.owner_basis = basis
        return owner

    @staticmethod
    def _is_known(scan: _Scan, inferred: str | None, ctx: IngestContext) -> Callable[[str], bool]:
        """Whether a possible speaker name is one notme knows (the chat's, the owner's)."""
        keys = {normalize_identity(scan.chat.chat_name), *([normalize_identity(inferred)] if inferred else [])}
        known: dict[str, bool] = {}

        def is_known(candidate: str) -> bool:
            if candidate not in known:
                known[candidate] = normalize_identity(candidate) in keys or ctx.owner.matches(candidate)
            return known[candidate]

        return is_known

    # ------------------------------------------------------------------------ pass two: build

    def _build(self, scan: _Scan, order: _Order, ctx: IngestContext, inferred: str | None) -> Conversation:
        if not scan.headers:  # let go after pass one: read again (its bytes were counted then)
            scan = self._scan(scan.chat, counted=False)
        for number in scan.not_utf8:
            ctx.malformed(scan.chat.display, f"line {number}", "line is not UTF-8 text")
        chat_name = scan.chat.chat_name
        conversation = Conversation(
            id=_conversation_id(chat_name), source=self.name, title=chat_name, messages=[], kind="messaging",
            extra={"timezone_assumed": str(ctx.zone), "date_order": order.note},
        )
        if scan.preamble:
            conversation.skipped["text before the first message"] += scan.preamble
        inferred_key = normalize_identity(inferred) if inferred else None
        mine: dict[str, bool] = {}  # speaker → is the owner
        tally = _Tally()
        clock = WallClock(ctx.zone)
        for entry, reason, text, edited in _classified(scan, order.order, self._is_known(scan, inferred, ctx)):
            tally.add(entry, reason, text)
            if reason:
                conversation.skipped[reason] += 1
                continue
            name = entry.name
            assert name is not None
            is_me = mine.get(name)
            if is_me is None:
                is_me = mine[name] = ctx.is_owner_named(name) or normalize_identity(name) == inferred_key
            # The id hashes the time as written and the owner flag, not the UTC time and the name:
            # the same export read in another --timezone, or after a contact was renamed, is the same.
            message = Message(speaker=name, is_me=is_me, text=text, timestamp=clock.utc(entry.when),
                              id=derived_message_id(entry.when.isoformat(), is_me, text))
            if edited:
                message.extra["edited"] = True
            conversation.messages.append(message)
        scan.let_go()  # built: let the lines go
        conversation.participants = list(tally.speakers)
        conversation.is_group = tally.is_group
        if ctx.owner and not inferred and any(mine.values()):
            ctx.owner_basis = "named by --me"
        return conversation


def _entries(scan: _Scan, order: str, is_known: Callable[[str], bool]) -> Iterator[_Entry]:
    """The messages of a scanned file in file order. A header whose date is impossible in this
    order (31/02) is message text after all."""
    assert scan.style is not None
    android = not scan.style.bracketed
    pending: _Entry | None = None
    header_match = _HEADER.match
    for index, (line, lrm) in enumerate(scan.headers):
        match = header_match(line)
        assert match is not None  # it matched in pass one
        more = scan.continuations.get(index)
        when = _moment(match, order)
        if when is None:
            if pending is not None:
                pending = pending._replace(text="\n".join([pending.text, line, *(more or [])]))
            continue
        if pending is not None:
            yield pending
        name, body = _split_name(match["rest"], scan.support, is_known, android)
        pending = _Entry(when, name, "\n".join([body, *more]) if more else body, lrm, index)
    if pending is not None:
        yield pending


def _classified(scan: _Scan, order: str,
                is_known: Callable[[str], bool]) -> Iterator[tuple[_Entry, str | None, str, bool]]:
    """(entry, reason to leave it out or None, text to keep, edited) per message; a message holding
    a line that is not UTF-8 is left to `ctx.malformed`."""
    for entry in _entries(scan, order, is_known):
        if entry.index not in scan.not_utf8_headers:
            yield (entry, *_classify(entry.name, entry.text, entry.lrm))


def _system_author(line: str, clean: str, match: re.Match[str]) -> str:
    """The name an iPhone system line is written under (the chat's name), or "" for other lines
    marked with U+200E (media, deleted messages: their author is a person)."""
    end = len(strip_invisible(line[:line.index(": \u200e")]))
    name = clean[match.start("rest"):end]
    reason, _, _ = _classify(name, clean[end + 2:], True)
    return name.strip() if reason == "system line" and 0 < len(name) <= _MAX_NAME else ""


# ---------------------------------------------------------------------------------- helpers


def looks_like_chat(head: str) -> bool:
    """Whether the first non-empty lines of a text are WhatsApp message headers."""
    checked = 0
    for line in head.splitlines()[:50]:
        clean = strip_invisible(line)
        if not clean.strip():
            continue
        match = _HEADER.match(clean)
        if match and int(match["hour"]) < 24 and int(match["minute"]) < 60:
            return True
        checked += 1
        if checked >= 3:
            break
    return False


def _zip_chat_entries(path: Path, whole: bool = False) -> list[str]:
    """The chat files inside a zip. With `whole`, only when the zip is nothing but WhatsApp chats and
    their media (a zip holding other exports too is opened and detected entry by entry instead)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir() and "__MACOSX/" not in i.filename]
            chats = []
            for name in names:
                if name.lower().endswith(".txt"):
                    with archive.open(name) as f:
                        head = f.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff")
                    if looks_like_chat(head):
                        chats.append(name)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError):
        return []
    if whole and any(_OTHER_EXPORT_FILE.search(n) or (n.lower().endswith(".txt") and n not in chats) for n in names):
        return []
    return chats


def _opener(tree: InputTree, name: str) -> Callable[[bool], IO[bytes]]:
    return lambda counted: tree.open(name, counted)


def _zip_opener(path: Path, inner: str, display: str, tree: InputTree) -> Callable[[bool], IO[bytes]]:
    def open_entry(counted: bool) -> IO[bytes]:
        try:
            # The member stream keeps the file open until it is closed; the archive object can go now.
            with zipfile.ZipFile(path) as archive:
                if counted and tree.on_read:  # progress counts the zip by its compressed size, as the folder lists it
                    tree.on_read(archive.getinfo(inner).compress_size)
                return archive.open(inner)
        except (zipfile.BadZipFile, OSError, KeyError, RuntimeError) as e:
            raise InputError(f"{display}:{inner}", f"cannot be read ({e})") from e

    return open_entry


def _chat_name(tree: InputTree, name: str) -> str:
    """The chat's name: from the file name, or for iPhone's `_chat.txt` from its zip or folder;
    "" when none of them gives one."""
    if basename(name).lower() != "_chat.txt":
        return _name_from_label(basename(name))
    parent = name.rpartition("/")[0]
    if parent:
        return _name_from_label(basename(parent))
    # The pipeline resolves input paths, so "." and a relative `_chat.txt` have their folder's name.
    return _name_from_label(tree.path.parent.name if tree.kind == "file" else tree.path.name)


def _file_name(name: str) -> str:
    """The file's own name without `.txt`; "" for `_chat.txt`, which names no chat."""
    stem = re.sub(r"\.txt$", "", strip_invisible(basename(name)), flags=re.IGNORECASE).strip()
    return "" if stem.lower() == "_chat" else stem


def _name_from_label(label: str) -> str:
    label = re.sub(r"\.(?:txt|zip)$", "", strip_invisible(label), flags=re.IGNORECASE).strip()
    label = _COPY_SUFFIX.sub("", label)  # "WhatsApp Chat with Ana (1).txt", a second download
    for pattern in _CHAT_FILE_NAMES:
        match = pattern.match(label)
        if match:
            return match["n"].strip()
    return label


def _conversation_id(chat_name: str) -> str:
    key = normalize_identity(chat_name)
    if key.startswith("+"):  # a number, not a name: not written into the corpus in clear
        return "whatsapp:phone-" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f"whatsapp:{key}"


def _name_candidates(rest: str) -> list[str]:
    """The prefixes of `rest` that end at ": " and could be a speaker's name, shortest first."""
    candidates = []
    start = 0
    while len(candidates) < 4:
        end = rest.find(": ", start)
        if end < 0 or end > _MAX_NAME:
            break
        candidates.append(rest[:end])
        start = end + 2
    if not candidates and rest.endswith(":") and 0 < len(rest) - 1 <= _MAX_NAME:
        candidates.append(rest[:-1])  # a message whose first line is empty
    return candidates


def _count_names(rest: str, support: Counter[str]) -> None:
    for candidate in _name_candidates(rest):
        support[candidate] += 1


def _split_name(rest: str, support: Counter[str], is_known: Callable[[str], bool],
                android: bool) -> tuple[str | None, str]:
    """(speaker, text) of a header's rest; no speaker for a system line.

    A name may hold ": ". The longest prefix that is a known name (the chat's, the owner's) wins;
    else the shortest, extended while a longer prefix starts just as many lines (a name with ": "
    starts every line of its speaker, text after a name rarely repeats)."""
    candidates = _name_candidates(rest)
    if not candidates:
        return None, rest
    chosen = next((c for c in reversed(candidates) if is_known(c)), None)
    if chosen is None:
        chosen = candidates[0]
        count = support[chosen]
        if count >= 2:
            for longer in candidates[1:]:
                if support[longer] != count:
                    break
                chosen = longer
        elif android and (_GROUP_EVENT.search(chosen) or _OTHER_EVENT.search(chosen)):
            # `Ana changed the subject from "a: b" to "c"`. Only the part before the ": " is tested:
            # a member's one message may well say "I added the route" or "ok I left".
            return None, rest
    name = chosen.strip().lstrip("~").strip()  # "~ Ana", "~\u202fAna": a non-contact
    if not name:
        return None, rest
    return name, rest[len(chosen) + 2:]


def _moment(match: re.Match[str], order: str) -> datetime | None:
    first, second, third = match["d1"], match["d2"], match["d3"]
    if order == "Y/M/D":
        year, month, day = int(first), int(second), int(third)
    else:
        year = int(third)
        day, month = (int(first), int(second)) if order == "D/M/Y" else (int(second), int(first))
    if year < 100:
        year += 2000  # WhatsApp is from 2009
    hour = int(match["hour"])
    ampm = match["ampm"]
    if ampm:
        if hour > 12:
            return None
        hour = hour % 12 + (12 if ampm[0] in "Pp" else 0)
    try:
        return datetime(year, month, day, hour, int(match["minute"]), int(match["second"] or 0))
    except ValueError:
        return None


def _classify(name: str | None, text: str, lrm: bool) -> tuple[str | None, str, bool]:
    """(reason to leave it out or None, the text to keep, whether it was edited)."""
    if name is None:
        return "system line", text, False
    edited = False
    if text.endswith(">"):
        stripped = _EDITED.sub("", text)
        if stripped != text:
            text, edited = stripped, True
    body = text.strip()
    if not _ANY_MARKER.match(body):
        return ("system line" if lrm else None), text, edited
    if _NOTICE.match(body):
        return "system line", text, edited
    if _DELETED.match(body):
        return "deleted message", body, edited
    if _MEDIA_OMITTED.match(body):
        return "media placeholder", text, edited
    for attachment in (_ATTACHED, _FILE_ATTACHED):
        match = attachment.match(body)
        if match:
            caption = body[match.end():].strip()
            return (None, caption, edited) if caption else ("media placeholder", text, edited)
    if _VIEW_ONCE.match(body):
        return "view-once message", text, edited
    if _CALL.match(body):
        return "call", text, edited
    if _LOCATION.match(body):
        return "shared location", text, edited
    if _FORWARDED.match(body):
        return "forwarded", text, edited
    if _POLL.match(body):
        return "poll", text, edited
    if _UNDELIVERED.match(body):
        return "undelivered message", text, edited
    if lrm:  # iPhone marks its own lines with U+200E after the name: an event we have no phrase for
        return "system line", text, edited
    return None, text, edited
