"""Claude Code session logs: `~/.claude/projects/<cwd with / and . as ->/<session>.jsonl`, one JSON
entry per line, append-only. Accepts the projects folder, one project folder or one session file.

A session is a chain of entries (`uuid` → `parentUuid`); rewinds leave sibling branches in the file,
and the active chain is the one ending at the last user or assistant entry written (harness entries
after it, which may start a chain of their own, are not the conversation). Every entry with a uuid
is a link of the chain, of a known type or not. A compaction restarts the chain
(`parentUuid: null`) with `logicalParentUuid` pointing back, which is followed. `--resume` copies
the history into a new file with the same uuids, so the conversation id is the uuid of the chain's
root: the original and the resumed file are one conversation (the chain that ends latest is kept;
other branches are counted as abandoned, and prompts written in the same place are kept as
`alternatives`) and messages are deduplicated by uuid. The files of one folder are read together so
those links can cross files.

Only what the person typed is kept from `user` entries: not tool results, `isMeta` expansions and
hook echoes, compaction summaries, harness tags (command output, system reminders, IDE context),
interrupt markers or sidechains. Assistant entries hold one content block per line; the text blocks
of one API message (`message.id`) become one message, thinking and tool calls are counted.
Sub-agent transcripts (`<session>/subagents/agent-*.jsonl`, older `agent-*.jsonl`) are Claude
talking to itself: claimed, never read, counted.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from notme.corpus.schema import Conversation, Message
from notme.corpus.text import short_title
from notme.corpus.timestamps import from_iso
from notme.errors import InputError
from notme.ingest.base import IngestContext, Ingester, walk_to_root
from notme.ingest.inputs import InputTree, basename
from notme.ingest.jsonstream import json_lines

# Entry types Claude Code writes; anything else is a newer type, counted (and kept as a chain link).
KNOWN_TYPES = frozenset({
    "user", "assistant", "system", "summary", "ai-title", "file-history-snapshot", "queue-operation",
    "attachment", "progress", "agent-setting", "pr-link", "turn_end",
})
_ENVELOPE_KEYS = ("sessionId", "uuid", "leafUuid", "messageId")
_HEAD_SIZE = 1 << 15
# Harness tags around or instead of what the person typed; their content is never the person's.
_HARNESS_TAGS = (
    "command-name", "command-message", "command-args", "local-command-stdout", "local-command-stderr",
    "local-command-caveat", "bash-input", "bash-stdout", "bash-stderr", "system-reminder",
    "ide_opened_file", "ide_selection", "post-tool-use-hook", "user-memory-input",
)
_TAG = re.compile(r"<(" + "|".join(re.escape(t) for t in _HARNESS_TAGS) + r")>(.*?)</\1>", re.DOTALL)
_INTERRUPTS = frozenset({"[Request interrupted by user]", "[Request interrupted by user for tool use]"})
_CONTINUED = "This session is being continued from a previous conversation"
# Where a pasted image sat in the prompt: "[Image #1] what's wrong here?".
_IMAGE_PLACEHOLDER = re.compile(r"[ \t]*\[Image #\d+\]")


@dataclass(slots=True)
class _Node:
    """One chain entry, reduced to what the corpus needs (the text of a tool result is never kept)."""

    uuid: str
    parent: str | None
    role: str  # "me", "assistant", or "" for entries that only hold the chain together
    text: str
    timestamp: str | None
    message_id: str
    skipped: tuple[str, ...] = ()
    model: str | None = None


@dataclass
class _Session:
    """What one session file adds to its folder: its last message entry, titles, steering messages."""

    display: str
    order: int
    leaf: str | None = None
    ai_title: str | None = None
    uuids: list[str] = field(default_factory=list)
    queued: list[tuple[str | None, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def is_sidechain_file(name: str) -> bool:
    return "subagents" in name.split("/")[:-1] or basename(name).startswith("agent-")


def looks_like_session(head: str) -> bool:
    """The first lines carry Claude Code's envelope: a known `type` and a session or entry id."""
    lines = head.split("\n")
    if len(head.encode()) >= _HEAD_SIZE:
        lines = lines[:-1]  # cut off by the head's size
    for line in lines[:8]:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        kind = entry.get("type") if isinstance(entry, dict) else None
        # str first: `"type": []` is unhashable, and one odd line must not hide the file.
        if (isinstance(kind, str) and kind in KNOWN_TYPES
                and any(isinstance(entry.get(k), str) for k in _ENVELOPE_KEYS)):
            return True
    # A first line longer than the head (a huge paste): judge by its keys.
    return head.startswith("{") and '"sessionId"' in head and '"parentUuid"' in head


def person_text(text: str) -> tuple[str | None, str | None]:
    """(what the person typed, None) or (None, why it is not theirs) for a prompt's raw text."""
    if text.lstrip().startswith(_CONTINUED):
        return None, "compaction summary"
    tags: dict[str, str] = {}
    for tag, inner in _TAG.findall(text):
        tags.setdefault(tag, inner.strip())
    rest = _TAG.sub("", text).strip()
    if "command-name" in tags:
        # A slash command: the person typed `/name args`, and its expansion follows as an isMeta entry.
        # Arguments are the person's words, so `/name args` is kept as typed; a bare command
        # (`/clear`, `/compact`) says nothing about how they write and is skipped.
        args = tags.get("command-args", "")
        if not args:
            return None, "slash command"
        command = tags["command-name"] if tags["command-name"].startswith("/") else "/" + tags["command-name"]
        return "\n".join(p for p in (f"{command} {args}", rest) if p), None
    if not rest:
        if "bash-input" in tags:
            return None, "shell command (!)"  # the person's, but a shell command, not their writing
        if tags.keys() & {"local-command-stdout", "local-command-stderr", "bash-stdout", "bash-stderr"}:
            return None, "command output"
        return None, "harness text"
    if rest in _INTERRUPTS:
        return None, "interrupt marker"
    rest = _IMAGE_PLACEHOLDER.sub("", rest).strip()  # the image itself is never kept
    if not rest:
        return None, "image only"
    return rest, None


class ClaudeCode(Ingester):
    name = "claude_code"
    title = "Claude Code sessions"
    kind = "assistant"
    priority = 10
    how_to_export = ("nothing to export: pass ~/.claude/projects (or one project folder or session .jsonl); "
                     "raise cleanupPeriodDays in ~/.claude/settings.json, old sessions are deleted after 30 days")

    def claims(self, tree: InputTree, names: list[str]) -> list[str]:
        return [n for n in names if n.endswith(".jsonl") and looks_like_session(tree.head_text(n, _HEAD_SIZE))]

    def read(self, tree: InputTree, entries: list[str], ctx: IngestContext) -> Iterator[Conversation]:
        ctx.owner_basis = "the user role"
        folders: dict[str, list[str]] = defaultdict(list)
        for name in sorted(entries):
            if is_sidechain_file(name):
                ctx.drop("sub-agent transcript (written by Claude)", tree.display(name))
            else:
                folders[name.rpartition("/")[0]].append(name)
        for names in folders.values():
            # Resumed and compacted sessions link across files of one project folder: read them together.
            yield from _Folder(tree, ctx).read(names)


class _Folder:
    def __init__(self, tree: InputTree, ctx: IngestContext) -> None:
        self.tree = tree
        self.ctx = ctx
        self.nodes: dict[str, _Node] = {}  # first copy of each uuid wins: resumed files repeat them
        self.children: dict[str, list[str]] = defaultdict(list)
        self.summaries: dict[str, str] = {}  # leafUuid → title
        self.sessions: list[_Session] = []

    def read(self, names: list[str]) -> Iterator[Conversation]:
        for order, name in enumerate(names):
            self.sessions.append(self._read_file(name, order))
        by_root: dict[str, list[tuple[_Session, list[_Node]]]] = {}
        for session in self.sessions:
            if session.leaf is None:
                self.ctx.drop("session without messages", session.display)
                continue
            chain = self._chain(session.leaf)
            by_root.setdefault(chain[0].uuid, []).append((session, chain))
        for root, sessions in by_root.items():
            yield self._conversation(root, sessions)

    def _read_file(self, name: str, order: int) -> _Session:
        display = self.tree.display(name)
        session = _Session(display, order)
        lines = bad = 0
        first_bad, last_bad, last_line = 0, 0, 0
        with self.tree.open(name) as stream:
            for number, entry in json_lines(stream, display, skip_bad=True):
                lines += 1
                last_line = number
                if entry is None:
                    bad += 1
                    first_bad = first_bad or number
                    last_bad = number
                    continue
                with self.ctx.guard(display, f"line {number}"):
                    self._entry(entry, session)
        half_written = bad and last_bad == last_line
        if bad > lines / 2 and not (bad == 1 and half_written):
            raise InputError(display, "not a Claude Code session log: most lines are not JSON",
                             where=f"line {first_bad}")
        if half_written:
            # An append-only log cut while Claude Code was writing: the last line is half there.
            session.skipped["half-written last line"] += 1
            bad -= 1
        if bad:
            self.ctx.malformed(display, f"line {first_bad}", "line is not valid JSON")
        return session

    def _entry(self, entry: Any, session: _Session) -> None:
        if not isinstance(entry, dict):
            session.skipped["malformed entry"] += 1
            return
        kind = entry.get("type")
        if not isinstance(kind, str) or kind not in KNOWN_TYPES:  # str first: a list is unhashable
            session.skipped[f"unknown entry ({kind})"] += 1
            # Still a link: the entries after it name it as their parent, and dropping it would cut
            # the chain there (the earlier messages would look abandoned, the conversation id change).
            self._link(entry, "", session)
            return
        if kind == "summary":
            if isinstance(entry.get("leafUuid"), str) and isinstance(entry.get("summary"), str):
                self.summaries[entry["leafUuid"]] = entry["summary"]
            return
        if kind == "ai-title":
            if isinstance(entry.get("aiTitle"), str) and entry["aiTitle"].strip():
                session.ai_title = entry["aiTitle"]  # the last one wins
            return
        if kind == "queue-operation":
            # `remove`: a steering message typed while Claude was working, the person's own text.
            if entry.get("operation") == "remove" and isinstance(entry.get("content"), str):
                text, _ = person_text(entry["content"])
                if text:
                    session.queued.append((from_iso(entry.get("timestamp")), text))
            return
        self._link(entry, kind, session)

    def _link(self, entry: dict[str, Any], kind: str, session: _Session) -> None:
        """Store a chain entry (`kind` "" for one of an unknown type: structure only)."""
        uuid = entry.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            if kind in ("user", "assistant"):
                session.skipped["malformed entry"] += 1
            return  # file-history-snapshot and other entries outside the chain
        if entry.get("isSidechain") is True:
            if kind in ("user", "assistant"):
                session.skipped["sidechain (sub-agent)"] += 1
            return
        if uuid not in self.nodes:
            node = self._node(entry, kind, uuid)
            self.nodes[uuid] = node
            if node.parent:
                self.children[node.parent].append(uuid)
        session.uuids.append(uuid)
        # The leaf is the last message, never a harness entry after it (a trailing `system` line with
        # no parent would make the chain that line alone), and only once its node is stored.
        if kind in ("user", "assistant"):
            session.leaf = uuid

    def _node(self, entry: dict[str, Any], kind: str, uuid: str) -> _Node:
        parent = entry.get("parentUuid") if isinstance(entry.get("parentUuid"), str) else None
        # A compaction restarts the chain; logicalParentUuid is the message before it.
        if parent is None and isinstance(entry.get("logicalParentUuid"), str):
            parent = entry["logicalParentUuid"]
        node = _Node(uuid, parent, "", "", from_iso(entry.get("timestamp")), uuid)
        message = entry.get("message")
        if kind not in ("user", "assistant"):
            return node
        if not isinstance(message, dict):
            node.skipped = ("malformed entry",)
            return node
        if kind == "user":
            self._user(entry, message, node)
        else:
            self._assistant(message, node)
        return node

    @staticmethod
    def _user(entry: dict[str, Any], message: dict[str, Any], node: _Node) -> None:
        if entry.get("isMeta") is True:
            node.skipped = ("command expansion or hook (isMeta)",)
            return
        if entry.get("isCompactSummary") is True:
            node.skipped = ("compaction summary",)
            return
        if "toolUseResult" in entry or entry.get("sourceToolUseID"):  # written by a tool, whatever its shape
            node.skipped = ("tool output",)
            return
        content = message.get("content")
        if isinstance(content, list):
            types = [b.get("type") if isinstance(b, dict) else None for b in content]
            if "tool_result" in types:
                node.skipped = ("tool output",)
                return
            content = "\n\n".join(b["text"] for b in content
                                  if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str))
            if not content.strip() and "image" in types:
                node.skipped = ("image only",)
                return
        if not isinstance(content, str):
            node.skipped = ("malformed entry",)
            return
        text, reason = person_text(content)
        if text is None:
            node.skipped = (reason or "empty",)
            return
        node.role, node.text = "me", text

    @staticmethod
    def _assistant(message: dict[str, Any], node: _Node) -> None:
        node.role = "assistant"
        if isinstance(message.get("id"), str):
            node.message_id = message["id"]
        node.model = message.get("model") if isinstance(message.get("model"), str) else None
        if node.model == "<synthetic>":  # errors and notices the harness writes as Claude
            node.role, node.skipped = "", ("harness message",)
            return
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts, skipped = [], []
        for block in blocks if isinstance(blocks, list) else []:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind in ("thinking", "redacted_thinking"):
                skipped.append("reasoning")
            elif kind in ("tool_use", "server_tool_use"):
                skipped.append("tool call")
            else:
                skipped.append(f"unsupported block ({kind})")
        node.text = "\n\n".join(t for t in texts if t.strip())
        node.skipped = tuple(skipped)

    def _chain(self, leaf: str) -> list[_Node]:
        def parent_of(uuid: str) -> str | None:
            parent = self.nodes[uuid].parent
            return parent if parent in self.nodes else None

        return [self.nodes[uuid] for uuid in walk_to_root(leaf, parent_of)]

    def _conversation(self, root: str, sessions: list[tuple[_Session, list[_Node]]]) -> Conversation:
        # Several files share a root when one resumed (copied) another: the newest leaf is the live one.
        session, chain = max(sessions, key=lambda s: (s[1][-1].timestamp or "", s[0].order))
        conversation = Conversation(
            id=f"claude_code:{root}", source="claude_code", title="", messages=[], kind="assistant",
            participants=["me", "Claude"],
        )
        on_chain = {node.uuid for node in chain}
        by_api_message: dict[str, Message] = {}
        prompts: set[str] = set()
        for node in chain:
            conversation.skipped.update(node.skipped)
            if not node.text:
                continue
            if node.role == "assistant":
                if node.model:
                    conversation.extra["model"] = node.model
                if node.message_id in by_api_message:  # one API response spread over several lines
                    by_api_message[node.message_id].text += "\n\n" + node.text
                    continue
                message = Message("Claude", False, node.text, node.timestamp, node.message_id)
                by_api_message[node.message_id] = message
            else:
                message = Message("me", True, node.text, node.timestamp, node.uuid)
                prompts.add(node.text)
                alternatives = self._alternatives(node, on_chain)
                if alternatives:
                    message.extra["alternatives"] = alternatives
            conversation.messages.append(message)
        self._add_queued(conversation, [s for s, _ in sessions], prompts)
        self._count_abandoned(conversation, sessions, on_chain, set(by_api_message))
        for other, _ in sessions:
            conversation.skipped.update(other.skipped)
        conversation.title = self._title(session, sessions, chain, conversation)
        return conversation

    def _alternatives(self, node: _Node, on_chain: set[str]) -> list[str]:
        """Other prompts written in the same place (a rewind, then a new prompt)."""
        siblings = (self.nodes[s] for s in self.children.get(node.parent or "", []) if s not in on_chain)
        return [s.text for s in siblings if s.role == "me" and s.text]

    @staticmethod
    def _add_queued(conversation: Conversation, sessions: list[_Session], prompts: set[str]) -> None:
        seen: set[tuple[str | None, str]] = set()
        for session in sessions:
            for timestamp, text in session.queued:
                if (timestamp, text) in seen or text in prompts:
                    continue
                seen.add((timestamp, text))
                message = Message("me", True, text, timestamp)
                position = len(conversation.messages)
                if timestamp:  # after the last message written before it
                    while position and (conversation.messages[position - 1].timestamp or "") > timestamp:
                        position -= 1
                conversation.messages.insert(position, message)

    def _count_abandoned(self, conversation: Conversation, sessions: list[tuple[_Session, list[_Node]]],
                         on_chain: set[str], api_messages: set[str]) -> None:
        counted: set[str] = set()
        for session, _ in sessions:
            for uuid in session.uuids:
                node = self.nodes.get(uuid)
                if uuid in on_chain or node is None or not node.text or node.role not in ("me", "assistant"):
                    continue
                key = node.uuid if node.role == "me" else node.message_id
                if key not in counted and key not in api_messages:
                    counted.add(key)
                    conversation.skipped["abandoned branch"] += 1

    def _title(self, session: _Session, sessions: list[tuple[_Session, list[_Node]]], chain: list[_Node],
               conversation: Conversation) -> str:
        """The newer `ai-title` (the live session's, else the last written), else the `summary` of the
        chain's latest entry that has one (possibly written in another file), else the first prompt."""
        titled = [s.ai_title for s, _ in sorted(sessions, key=lambda s: s[0].order) if s.ai_title]
        if session.ai_title or titled:
            return session.ai_title or titled[-1]
        for node in reversed(chain):
            if node.uuid in self.summaries:
                return self.summaries[node.uuid]
        return short_title(next((m.text for m in conversation.messages if m.is_me), ""))
