"""WhatsApp "Export chat": one text file per chat.

iPhone gives `WhatsApp Chat - <Name>.zip` holding `_chat.txt` (plus media); Android gives
`WhatsApp Chat with <Name>.txt` (names localized). A .txt is claimed by its first lines, never by
its name alone. Lines look like

    [31/12/2024, 9:05:09 PM] Name: text        (iPhone: brackets, seconds)
    31/12/2024, 21:05 - Name: text             (Android: " - ", no seconds)

with every locale's date order, year width, separators, 12/24 h clock and AM/PM spelling. A file is
read in two passes over its buffered header lines: the first learns the date order (a first field
over 12 means day first, a second one month first) and how often each possible name prefix occurs
(for names holding ": "); the second builds the messages. A chat whose days are all 12 or less
takes the order of another chat of the same phone in this input, else day first (month first in a
US time zone), and says so in `extra["date_order"]`.

Times are the phone's wall clock: read in `ctx.zone` (`extra["timezone_assumed"]`). There is no owner
flag: speakers are matched against --me, or the owner is inferred as the one name in every 1:1
chat (or the author of "You deleted this message"). System lines, media placeholders, deleted and
view-once messages, calls, shared locations, polls and forwarded messages are left out and counted.

The conversation id is `whatsapp:<chat name>`, so an updated export of the same chat merges with
what is stored (the store unions messaging chats, so messages WhatsApp has since dropped stay).
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
from typing import IO

from notme.corpus.schema import Conversation, Message
from notme.corpus.text import normalize_identity, strip_invisible
from notme.corpus.timestamps import from_wallclock
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester
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
_DELETED = re.compile(
    r"^(?:This message was deleted(?: by admin.*)?|You deleted this message|Se eliminó este mensaje"
    r"|Este mensaje fue eliminado|Eliminaste este mensaje|Diese Nachricht wurde gelöscht"
    r"|Du hast diese Nachricht gelöscht|Esta mensagem foi apagada|Mensagem apagada|Você apagou esta mensagem"
    r"|Ce message a été supprimé|Vous avez supprimé ce message|Questo messaggio è stato eliminato"
    r"|Hai eliminato questo messaggio)\.?$",
    _I,
)
# Only the owner's own deleted messages read like this: their author is the owner.
_OWN_DELETED = re.compile(
    r"^(?:You deleted this message|Eliminaste este mensaje|Du hast diese Nachricht gelöscht"
    r"|Você apagou esta mensagem|Vous avez supprimé ce message|Hai eliminato questo messaggio)\.?$",
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


@dataclass
class _ChatFile:
    display: str
    chat_name: str
    open: Callable[[], IO[bytes]]


@dataclass
class _Scan:
    """Pass one over a chat file: its header matches (the rest is decided in pass two)."""

    chat: _ChatFile
    # (line number, the line without invisible marks, whether U+200E follows a ": ") per header line;
    # lines, not match objects, which are twice their size: pass two matches them again.
    headers: list[tuple[int, str, bool]] = field(default_factory=list)
    continuations: dict[int, list[str]] = field(default_factory=dict)  # header index → following lines
    support: Counter[str] = field(default_factory=Counter)  # possible name → lines it could start
    style: tuple[bool, str, bool, bool, bool] | None = None
    day_first_votes: int = 0
    month_first_votes: int = 0
    preamble: int = 0  # lines before the first header
    not_utf8: list[int] = field(default_factory=list)  # line numbers
    not_utf8_headers: set[int] = field(default_factory=set)  # header indices whose message holds one

    def order(self) -> str | None:
        if self.style and self.style[4]:
            return "Y/M/D"
        if self.day_first_votes >= self.month_first_votes and self.day_first_votes:
            return "D/M/Y"
        return "M/D/Y" if self.month_first_votes else None


@dataclass
class _Facts:
    """What owner inference needs to know about one chat."""

    conversation_id: str
    speakers: list[str]
    is_group: bool
    own_deleted_by: set[str]
    chat_name: str = ""


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
        learned_orders: dict[tuple, str] = {}  # header style → date order, across the chats of one phone
        inferred: str | None = None
        reuse: tuple[_Scan, Conversation, _Facts] | None = None
        if not ctx.owner:
            # Who the owner is can only be told from all chats together: a first look at each
            # (not shown as progress: the bar counts the reading pass).
            facts = []
            report, tree.on_read = tree.on_read, None
            try:
                for chat in chats:
                    scan = self._scan(chat)
                    conversation, fact = self._build(scan, ctx, learned_orders, None)
                    facts.append(fact)
                    if len(chats) == 1:
                        reuse = (scan, conversation, fact)
                        if report:
                            report(sum(tree.size(n) for n in entries))
            finally:
                tree.on_read = report
            inferred = self._infer_owner(facts, ctx)
        if reuse is None:  # media files are part of the export but never read
            tree.pass_over([n for n in entries if _MEDIA_FILE.match(basename(n))])
        deferred: list[_Scan] = []
        for chat in chats:
            if reuse is not None:
                scan, conversation, fact = reuse
            else:
                scan = self._scan(chat)
                if scan.order() is None and scan.style not in learned_orders:
                    deferred.append(scan)  # the date order may come from a chat read later
                    continue
                conversation, fact = self._build(scan, ctx, learned_orders, inferred)
            yield self._finish(scan, conversation, fact, ctx, inferred)
        for scan in deferred:
            conversation, fact = self._build(scan, ctx, learned_orders, inferred)
            yield self._finish(scan, conversation, fact, ctx, inferred)

    def _chat_files(self, tree: InputTree, entries: list[str]) -> list[_ChatFile]:
        chats = []
        for name in sorted(entries):
            lower = name.lower()
            if lower.endswith(".zip") and tree.kind == "dir":
                chats += self._zip_chats(tree, name)
            elif lower.endswith(".txt") or tree.kind == "file":
                chats.append(_ChatFile(tree.display(name), _chat_name(tree, name), _opener(tree, name)))
        return chats

    def _zip_chats(self, tree: InputTree, name: str) -> list[_ChatFile]:
        """The chats in a zip that sits in a folder (read here, so owner inference sees every chat)."""
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
            chats.append(_ChatFile(f"{display}:{inner}", _name_from_label(label), opener))
        return chats

    # ------------------------------------------------------------------------- pass one: scan

    def _scan(self, chat: _ChatFile) -> _Scan:
        scan = _Scan(chat)
        headers, continuations, support = scan.headers, scan.continuations, scan.support
        header_match = _HEADER.match
        number = 0
        try:
            with chat.open() as stream:
                for number, raw in enumerate(stream, 1):
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        line = raw.decode("utf-8", errors="replace")
                        scan.not_utf8.append(number)
                    line = line.rstrip("\r\n")
                    clean = strip_invisible(line)
                    match = header_match(clean)
                    if match is not None and self._accept(scan, match):
                        headers.append((number, clean, ": \u200e" in line))
                        _count_names(match["rest"], support)
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
        return scan

    @staticmethod
    def _accept(scan: _Scan, match: re.Match[str]) -> bool:
        """A header of this file's style with a possible time; anything else is message text."""
        if int(match["hour"]) > 23 or int(match["minute"]) > 59 or int(match["second"] or 0) > 59:
            return False
        style = (match["open"] is not None, match["sep"], match["ampm"] is not None,
                 match["second"] is not None, len(match["d1"]) == 4)
        if scan.style is None:
            scan.style = style
        elif style != scan.style:
            return False
        if not style[4]:
            first, second = int(match["d1"]), int(match["d2"])
            if first > 31 or second > 31 or first == 0 or second == 0:
                return False
            scan.day_first_votes += first > 12
            scan.month_first_votes += second > 12
        return True

    # ------------------------------------------------------------------------ pass two: build

    def _build(self, scan: _Scan, ctx: IngestContext, learned_orders: dict[tuple, str],
               inferred: str | None) -> tuple[Conversation, _Facts]:
        order, note = self._date_order(scan, ctx, learned_orders)
        chat_name = scan.chat.chat_name
        chat_key = normalize_identity(chat_name)
        conversation = Conversation(
            id=_conversation_id(chat_name), source=self.name, title=chat_name, messages=[], kind="messaging",
        )
        conversation.extra["timezone_assumed"] = str(ctx.zone)
        conversation.extra["date_order"] = note
        if scan.preamble:
            conversation.skipped["text before the first message"] += scan.preamble
        inferred_key = normalize_identity(inferred) if inferred else None

        known: dict[str, bool] = {}

        def is_known(candidate: str) -> bool:
            if candidate not in known:
                key = normalize_identity(candidate)
                known[candidate] = key in (chat_key, inferred_key) or ctx.owner.matches(candidate)
            return known[candidate]

        android = not scan.style[0] if scan.style else True
        entries = self._entries(scan, order, is_known, android)
        speakers: dict[str, None] = {}
        group_event = False
        own_deleted_by: set[str] = set()
        for when, name, text, lrm, index in entries:
            if index in scan.not_utf8_headers:
                continue  # counted by ctx.malformed when the chat is finished
            reason, text, edited = _classify(name, text, lrm)
            if name is not None and reason != "system line":
                speakers.setdefault(name)
            if reason == "system line":
                group_event = group_event or bool(_GROUP_EVENT.search(text.partition("\n")[0]))
            if reason == "deleted message" and name is not None and _OWN_DELETED.match(text):
                own_deleted_by.add(name)
            if reason:
                conversation.skipped[reason] += 1
                continue
            assert name is not None
            message = Message(speaker=name, is_me=False, text=text, timestamp=from_wallclock(when, ctx.zone))
            if edited:
                message.extra["edited"] = True
            conversation.messages.append(message)
        scan.headers, scan.continuations, scan.support = [], {}, Counter()  # built: let the lines go
        conversation.participants = list(speakers)
        conversation.is_group = group_event or len(speakers) > 2
        facts = _Facts(conversation.id, list(speakers), conversation.is_group, own_deleted_by, conversation.title)
        return conversation, facts

    def _date_order(self, scan: _Scan, ctx: IngestContext, learned_orders: dict[tuple, str]) -> tuple[str, str]:
        order = scan.order()
        if order is not None:
            learned_orders.setdefault(scan.style, order)
            return order, order
        if scan.style in learned_orders:
            order = learned_orders[scan.style]
            return order, f"{order} (from another chat of this export)"
        if _US_ZONES.match(str(ctx.zone)):
            return "M/D/Y", "assumed M/D/Y (US time zone)"
        return "D/M/Y", "assumed D/M/Y"

    @staticmethod
    def _entries(scan: _Scan, order: str, is_known: Callable[[str], bool],
                 android: bool) -> Iterator[tuple[datetime, str | None, str, bool, int]]:
        """(time, author or None for a system line, text, LRM mark, header index) per message, in file order.

        A header whose date is impossible in this order (31/02) is message text after all."""
        pending: tuple[datetime, str | None, str, bool, int] | None = None
        header_match = _HEADER.match
        for index, (_, line, lrm) in enumerate(scan.headers):
            match = header_match(line)
            assert match is not None  # it matched in pass one
            more = scan.continuations.get(index)
            when = _moment(match, order)
            if when is None:
                if pending is not None:
                    text = "\n".join([pending[2], line, *(more or [])])
                    pending = (pending[0], pending[1], text, pending[3], pending[4])
                continue
            if pending is not None:
                yield pending
            name, body = _split_name(match["rest"], scan.support, is_known, android)
            pending = (when, name, "\n".join([body, *more]) if more else body, lrm, index)
        if pending is not None:
            yield pending

    # ------------------------------------------------------------------------------- owner

    @staticmethod
    def _infer_owner(facts: list[_Facts], ctx: IngestContext) -> str | None:
        one_to_one: dict[str, set[str]] = {}
        display: dict[str, str] = {}
        for fact in facts:
            if not fact.is_group:
                keys = set()
                for speaker in fact.speakers:
                    key = normalize_identity(speaker)
                    display.setdefault(key, speaker)
                    keys.add(key)
                one_to_one[fact.conversation_id] = one_to_one.get(fact.conversation_id, set()) | keys
        if len(one_to_one) >= 2:
            common = set.intersection(*one_to_one.values())
            if len(common) == 1:
                name = display[common.pop()]
                ctx.inferred_owner.append(name)
                ctx.owner_basis = "inferred: the name in every 1:1 chat"
                return name
        deleters = {normalize_identity(n): n for fact in facts for n in fact.own_deleted_by}
        if len(deleters) == 1:
            name = next(iter(deleters.values()))
            ctx.inferred_owner.append(name)
            ctx.owner_basis = "inferred: the author of 'You deleted this message'"
            return name
        # A 1:1 chat is named after the contact ("WhatsApp Chat with Maya Chen"): the other speaker is
        # the owner. Only when every such chat points at the same person.
        others = {}
        for fact in facts:
            keys = {normalize_identity(s): s for s in fact.speakers}
            contact = normalize_identity(fact.chat_name)
            if not fact.is_group and len(keys) == 2 and contact in keys:
                (other,) = (s for k, s in keys.items() if k != contact)
                others[normalize_identity(other)] = other
        if len(others) == 1:
            name = next(iter(others.values()))
            ctx.inferred_owner.append(name)
            ctx.owner_basis = "inferred: the other speaker of a chat named after its contact"
            return name
        return None

    def _finish(self, scan: _Scan, conversation: Conversation, fact: _Facts, ctx: IngestContext,
                inferred: str | None) -> Conversation:
        for number in scan.not_utf8:
            ctx.malformed(scan.chat.display, f"line {number}", "line is not UTF-8 text")
        inferred_key = normalize_identity(inferred) if inferred else None
        mine = {}
        for speaker in fact.speakers:
            mine[speaker] = ctx.is_owner_named(speaker) or normalize_identity(speaker) == inferred_key
        if ctx.owner and any(mine.values()) and not inferred:
            ctx.owner_basis = "named by --me"
        for message in conversation.messages:
            message.is_me = mine.get(message.speaker, False)
        return conversation


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


def _opener(tree: InputTree, name: str) -> Callable[[], IO[bytes]]:
    return lambda: tree.open(name)


def _zip_opener(path: Path, inner: str, display: str, tree: InputTree) -> Callable[[], IO[bytes]]:
    def open_entry() -> IO[bytes]:
        try:
            # The member stream keeps the file open until it is closed; the archive object can go now.
            with zipfile.ZipFile(path) as archive:
                if tree.on_read:  # progress counts the zip by its compressed size, as the folder lists it
                    tree.on_read(archive.getinfo(inner).compress_size)
                return archive.open(inner)
        except (zipfile.BadZipFile, OSError, KeyError, RuntimeError) as e:
            raise InputError(f"{display}:{inner}", f"cannot be read ({e})") from e

    return open_entry


def _chat_name(tree: InputTree, name: str) -> str:
    """The chat's name: from the file name, or for iPhone's `_chat.txt` from its zip or folder."""
    if basename(name).lower() != "_chat.txt":
        return _name_from_label(basename(name))
    parent = name.rpartition("/")[0]
    if parent:
        return _name_from_label(basename(parent))
    if tree.kind == "file":
        return _name_from_label(tree.path.parent.name or "WhatsApp chat")
    return _name_from_label(tree.path.name)


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
        elif android and (_GROUP_EVENT.search(rest) or _OTHER_EVENT.search(rest)):
            return None, rest  # `Ana changed the subject from "a: b" to "c"`
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
