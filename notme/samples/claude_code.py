"""Writes Claude Code session logs from scripted sessions (for the demo, tests and benchmarks).

Written from the structure described in the format notes (JSONL entries with uuid/parentUuid,
one assistant content block per line sharing `message.id`, tool results in user entries, harness
tags, compaction, resume copies, sub-agent files); no real log is copied. Every trap an ingester
must handle can be produced: string and image prompts, tool rounds (one an error), thinking,
`isMeta` expansions, slash commands with their output, interrupt markers, `queue-operation`
removals, `summary` and `ai-title` lines, compaction, rewinds, a resumed file repeating uuids,
sub-agent files (new and old layout), an unknown entry type and a half-written last line.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notme.samples.common import fake_secret

VERSION = "2.0.14"
MODEL = "claude-sonnet-4-5-20250929"
# A 1×1 PNG, base64: what a pasted screenshot looks like in the log, only smaller.
_PIXEL_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
              "AAAABJRU5ErkJggg==")
CONTINUED = ("This session is being continued from a previous conversation that ran out of context. "
             "The conversation is summarized below:\n")


def _iso(moment: datetime) -> str:
    """Claude Code's time format: ISO 8601 UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_cwd(path: str) -> str:
    """The project folder's name: the absolute cwd with '/' and '.' replaced by '-'."""
    return path.replace("/", "-").replace(".", "-")



class ClaudeCodeSession:
    """One session file. Each call appends entries chained to the previous one (`current`);
    `rewind` moves `current` back so the next prompt starts a sibling branch."""

    def __init__(self, cwd: str, start: datetime, *, session_id: str | None = None, seed: int | None = None,
                 step_seconds: float = 40.0, git_branch: str = "main") -> None:
        self._seed = seed if seed is not None else zlib.crc32(f"{cwd}{start.isoformat()}".encode())
        self._counter = 0
        self.session_id = session_id or self._uuid()
        self.cwd = cwd
        self.clock = start
        self.step = timedelta(seconds=step_seconds)
        self.git_branch = git_branch
        self.lines: list[dict[str, Any]] = []
        self.current: str | None = None
        self.subagents: list[list[dict[str, Any]]] = []
        self.old_style_subagents = False  # agent-<id>.jsonl beside the session instead of <session>/subagents/
        self.cut_last_line = False  # the file ends in a half-written line

    def _uuid(self) -> str:
        self._counter += 1
        return str(uuid.UUID(int=((self._seed & 0xFFFFFFFF) << 96) | (0x4000 << 64) | (0x8 << 60) | self._counter))

    def _tick(self) -> str:
        self.clock += self.step
        return _iso(self.clock)

    def entry(self, kind: str, *, advance: bool = True, **fields: Any) -> str:
        """Append a chain entry (user, assistant, system, attachment…) and return its uuid."""
        entry_id = self._uuid()
        line = {
            "parentUuid": self.current, "isSidechain": False, "userType": "external", "cwd": self.cwd,
            "sessionId": self.session_id, "version": VERSION, "gitBranch": self.git_branch, "type": kind,
            "uuid": entry_id, "timestamp": self._tick(),
        } | fields
        self.lines.append(line)
        if advance:
            self.current = entry_id
        return entry_id

    # --- what the person does -------------------------------------------------------------
    def prompt(self, content: str | list[dict[str, Any]], **flags: Any) -> str:
        return self.entry("user", message={"role": "user", "content": content}, **flags)

    def image_prompt(self, text: str) -> str:
        image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _PIXEL_PNG}}
        return self.prompt([{"type": "text", "text": f"[Image #1] {text}".strip()}, image], imagePasteIds=[1])

    def slash(self, name: str, args: str = "", stdout: str | None = None, expansion: str | None = None) -> str:
        """A slash command as typed, its expansion (isMeta) and its local output, as Claude Code logs them."""
        typed = (f"<command-message>{name.lstrip('/')}</command-message>\n<command-name>{name}</command-name>\n"
                 f"<command-args>{args}</command-args>")
        first = self.prompt(typed)
        if expansion is not None:
            self.prompt(expansion, isMeta=True)
        if stdout is not None:
            self.prompt(f"<local-command-stdout>{stdout}</local-command-stdout>")
        return first

    def bash_input(self, command: str, stdout: str) -> None:
        self.prompt(f"<bash-input>{command}</bash-input>")
        self.prompt(f"<bash-stdout>{stdout}</bash-stdout><bash-stderr></bash-stderr>")

    def interrupt(self, for_tool_use: bool = False) -> str:
        marker = "[Request interrupted by user for tool use]" if for_tool_use else "[Request interrupted by user]"
        return self.prompt([{"type": "text", "text": marker}])

    def meta(self, text: str) -> str:
        return self.prompt(text, isMeta=True)

    def queue_remove(self, text: str) -> None:
        """A message typed while Claude worked, taken off the queue: no uuid, not on the chain."""
        self.lines.append({"type": "queue-operation", "operation": "remove", "timestamp": self._tick(),
                           "sessionId": self.session_id, "content": text})

    def rewind(self, to: str) -> None:
        """Go back to an earlier entry: the next prompt is a sibling of what followed it."""
        self.current = to

    # --- what Claude does -------------------------------------------------------------------
    def assistant_line(self, message_id: str, block: dict[str, Any], stop: str | None = None,
                       model: str = MODEL) -> str:
        """One line of an API response: one content block; the lines of a response share `message_id`."""
        message = {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": [block],
                   "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": 12, "output_tokens": 40, "cache_read_input_tokens": 9000}}
        return self.entry("assistant", message=message, requestId=f"req_{self._counter:024d}")

    def reply(self, text: str, *, thinking: str | None = None,
              tools: Sequence[tuple[str, dict[str, Any], str, bool]] = (), after: str | None = None) -> str:
        """One API response, one content block per line: (thinking,) text, tool calls. Then the tool
        results (user entries) and, with `after`, a second response with more text."""
        message_id = f"msg_{self._seed & 0xFFFF:04x}{self._counter:020d}"
        if thinking:
            self.assistant_line(message_id, {"type": "thinking", "thinking": thinking, "signature": "c2lnbmF0dXJl"},
                                 None)
        self.assistant_line(message_id, {"type": "text", "text": text}, None if tools else "end_turn")
        tool_ids = []
        for name, tool_input, _, _ in tools:
            tool_id = f"toolu_{self._seed & 0xFFFF:04x}{self._counter:018d}"
            tool_ids.append(tool_id)
            self.assistant_line(message_id, {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input},
                                 "tool_use")
        for tool_id, (name, _, output, is_error) in zip(tool_ids, tools, strict=True):
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id, "content": output}
            if is_error:
                result["is_error"] = True
            record = ({"stdout": output, "stderr": "", "interrupted": False, "isImage": False}
                      if name == "Bash" else output)
            self.prompt([result], toolUseResult=record)
        if after is not None:
            return self.reply(after)
        return message_id

    def harness_notice(self, text: str) -> str:
        """An API error or notice the harness writes as an assistant entry (model `<synthetic>`)."""
        return self.assistant_line(f"msg_synthetic{self._counter:012d}", {"type": "text", "text": text},
                                   "stop_sequence", model="<synthetic>")

    # --- the harness --------------------------------------------------------------------------
    def system(self, subtype: str = "turn_duration", **fields: Any) -> str:
        return self.entry("system", subtype=subtype, level="info", isMeta=False, **fields)

    def snapshot(self) -> None:
        self.lines.append({"type": "file-history-snapshot", "messageId": self.current or self._uuid(),
                           "snapshot": {"messageId": self.current, "trackedFileBackups": {},
                                        "timestamp": _iso(self.clock)}, "isSnapshotUpdate": False})

    def summary(self, text: str, leaf: str | None = None) -> None:
        """A title line; Claude Code writes these at the top of a file."""
        self.lines.insert(0, {"type": "summary", "summary": text, "leafUuid": leaf or self.current})

    def ai_title(self, text: str) -> None:
        self.lines.append({"type": "ai-title", "aiTitle": text, "sessionId": self.session_id})

    def unknown(self, kind: Any = "future-entry") -> str:
        """An entry of a type notme does not know (a newer Claude Code), on the chain like any other:
        the next entry names it as its parent."""
        return self.entry(kind, data={})

    def compact(self, summary: str) -> str:
        """A compaction: a boundary that restarts the chain (pointing back logically) and the
        model-written summary as a user entry."""
        before = self.current
        self.current = None
        boundary = self.entry("system", subtype="compact_boundary", content="Conversation compacted",
                              level="info", isMeta=False, logicalParentUuid=before,
                              compactMetadata={"trigger": "auto", "preTokens": 155000})
        self.prompt(CONTINUED + summary, isCompactSummary=True, isVisibleInTranscriptOnly=True)
        return boundary

    def subagent(self, task: str, answer: str) -> None:
        """A sub-agent transcript: Claude prompting Claude, every line a sidechain."""
        agent_id = f"a{self._seed & 0xFFFF:04x}{len(self.subagents):03d}"
        parent = None
        lines = []
        for kind, content in (("user", task), ("assistant", [{"type": "text", "text": answer}])):
            entry_id = self._uuid()
            message: dict[str, Any] = {"role": kind, "content": content}
            if kind == "assistant":
                message |= {"id": f"msg_agent{self._counter:016d}", "type": "message", "model": MODEL}
            lines.append({"parentUuid": parent, "isSidechain": True, "agentId": agent_id, "userType": "external",
                          "cwd": self.cwd, "sessionId": self.session_id, "version": VERSION, "type": kind,
                          "uuid": entry_id, "timestamp": self._tick(), "message": message})
            parent = entry_id
        self.subagents.append(lines)

    def resume(self, session_id: str | None = None, seed: int | None = None) -> ClaudeCodeSession:
        """`claude --resume`: a new file with a new session id that copies this history, same uuids."""
        new = ClaudeCodeSession(self.cwd, self.clock, session_id=session_id,
                                seed=seed if seed is not None else self._seed ^ 0x5A5A5A5A,
                                step_seconds=self.step.total_seconds(), git_branch=self.git_branch)
        new.lines = [line | {"sessionId": new.session_id} if "sessionId" in line else dict(line) for line in self.lines]
        new.current = self.current
        return new

    # --- writing ------------------------------------------------------------------------------
    def jsonl(self) -> str:
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in self.lines)
        if self.cut_last_line and self.lines:
            last = json.dumps(self.lines[-1], ensure_ascii=False)
            text = text[: len(text) - len(last) - 1] + last[: len(last) // 2]
        return text

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.session_id}.jsonl"
        path.write_text(self.jsonl(), encoding="utf-8")
        for lines in self.subagents:
            agent_id = lines[0]["agentId"]
            if self.old_style_subagents:
                target = folder / f"agent-{agent_id}.jsonl"
            else:
                target = folder / self.session_id / "subagents" / f"agent-{agent_id}.jsonl"
                target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return path


def write_projects(directory: Path, sessions: Sequence[ClaudeCodeSession]) -> Path:
    """A `~/.claude/projects` folder: one folder per cwd holding its sessions; returns it."""
    projects = directory / "projects"
    projects.mkdir(parents=True, exist_ok=True)
    for session in sessions:
        session.write(projects / encode_cwd(session.cwd))
    return projects


_CODE_WORDS = ("code", "python", "bug", "regex", "sql", "git", "api", "script", "deploy", "docker", "test",
               "error", "javascript", "typescript", "css", "rust", "bash", "shell", "function", "refactor",
               "programming", "debug", "database", "server", "build", "compile", "cli", "json")


def _is_code_chat(chat: dict[str, Any]) -> bool:
    words = f"{chat.get('topic') or ''} {chat.get('title') or ''}".casefold()
    return any(word in words for word in _CODE_WORDS)


def write_sample(directory: Path, chats: Sequence[dict[str, Any]], owner: dict[str, Any]) -> Path:
    """The persona's code chats as Claude Code sessions in two project folders, with the usual quirks:
    a tool round with an API key in a Bash result, a failing tool, thinking, a bare `/clear`, an
    interrupt marker, titles from `summary` and `ai-title` lines, a sub-agent file, snapshots and
    system lines, and a key pasted into one prompt. Sessions start every three days from
    2025-01-06, 14:00 in the owner's zone; entries are 40–80 seconds apart."""
    zone = ZoneInfo(str(owner.get("timezone") or "UTC"))
    user = (str(owner.get("owner") or owner.get("name") or "sam").split() or ["sam"])[0].casefold()
    code_chats = [c for c in chats if _is_code_chat(c)]
    if len(code_chats) < 2:
        code_chats = list(chats)
    cwds = [f"/Users/{user}/code/notes-app", f"/Users/{user}/work/api.service"]
    sessions = []
    for number, chat in enumerate(code_chats):
        start = datetime(2025, 1, 6, 14, 0, tzinfo=zone) + timedelta(days=3 * number, minutes=11 * (number % 4))
        session = ClaudeCodeSession(cwds[number % 2], start, seed=5000 + number, step_seconds=40 + 20 * (number % 3))
        if number == 1:
            session.slash("/clear", stdout="")
        mine = 0
        for turn in chat.get("turns") or []:
            if "me" in turn:
                text = str(turn["me"])
                mine += 1
                if number == 2 and mine == 1:
                    text += f"\n\nusing this key for now: {fake_secret('claude_code-sample')}"
                session.prompt(text)
            elif "ai" in turn:
                text = str(turn["ai"])
                if number == 0 and mine == 1:
                    secret = fake_secret("claude_code-env", "sk-ant-api03-", 40)
                    session.reply("Let me look at the environment first.", thinking="Check the env and the tests.",
                                  tools=[("Bash", {"command": "cat .env && pytest -q", "description": "env, tests"},
                                          f"ANTHROPIC_API_KEY={secret}\n3 passed in 0.41s", False),
                                         ("Read", {"file_path": f"{cwds[0]}/missing.py"},
                                          "<tool_use_error>File does not exist.</tool_use_error>", True)],
                                  after=text)
                elif number == 4 and mine == 1:
                    session.reply("I'll have a sub-agent search the codebase.",
                                  tools=[("Task", {"description": "search", "prompt": "Find the config loader"},
                                          "Found it in config.py", False)], after=text)
                    session.subagent("Find the config loader", "It is in config.py, line 12.")
                elif number == 3 and mine == 1:
                    session.reply("Running the tests first.", tools=[("Bash", {"command": "pytest -x"}, "", False)])
                    session.interrupt(for_tool_use=True)
                    session.reply(text)
                else:
                    session.reply(text)
                session.system("turn_duration", durationMs=5230)
                session.snapshot()
        if number % 3 == 0 and session.current:
            session.summary(str(chat.get("title") or "Session"))
        elif number % 3 == 1:
            session.ai_title(str(chat.get("title") or "Session"))
        sessions.append(session)
    return write_projects(directory, sessions)
