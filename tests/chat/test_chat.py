"""`notme chat` through its real loop: a GGUF in llama.cpp, a run's MLX model, an OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from notme.backends.base import Backend, Chat
from notme.chat.safety import DEFAULT_CRISIS_MESSAGE, SafetyLayer
from notme.chat.session import ChatSession, run_loop
from notme.export.gguf_model import write_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tiny_path, tmp_path_factory):
    return write_gguf(tiny_path, tmp_path_factory.mktemp("gguf") / "tiny-F16.gguf")


def test_chat_with_a_gguf_keeps_history_and_runs_every_command(cli, tiny_gguf, workspace, tmp_path):
    saved = tmp_path / "mine.json"
    lines = ["hello there", "/system you are terse", "/system", "how are you?", f"/save {saved}", "/help",
             "/nonsense", "/quit"]
    result = cli("chat", str(tiny_gguf), "--max-tokens", "8", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "system prompt set" in result.output and "system prompt: you are terse" in result.output
    assert f"saved 4 messages to {saved}" in result.output and "/reset" in result.output
    assert "unknown command /nonsense" in result.output
    conversation = json.loads(saved.read_text())
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant", "user", "assistant"]
    assert conversation["system"] == "you are terse" and all(m["content"] for m in conversation["messages"])
    history = workspace / "chat" / "tiny-F16.json"
    assert json.loads(history.read_text())["messages"] == conversation["messages"]
    # a second session goes on from the history; /reset archives it
    result = cli("chat", str(tiny_gguf), "--max-tokens", "4", input="/reset\n")
    assert "4 earlier messages" in result.output and "new conversation (the last one is in" in result.output
    assert json.loads(history.read_text())["messages"] == []
    assert len(list((workspace / "chat" / "archive").glob("*.json"))) == 1


def test_a_damaged_history_is_a_message_and_is_left_alone(cli, tiny_gguf, workspace):
    history = workspace / "chat" / "tiny-F16.json"
    history.parent.mkdir(parents=True)
    history.write_text("{not json")
    result = cli("chat", str(tiny_gguf), input="hi\n")
    assert result.exit_code == 2 and "the saved conversation is damaged" in result.output
    assert history.read_text() == "{not json"


def test_a_missing_or_corrupt_file_or_run_is_a_message(cli, workspace, tmp_path, tiny_gguf):
    assert "no such GGUF file" in cli("chat", "nowhere.gguf").output
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_gguf.read_bytes()[:100_000])
    result = cli("chat", str(truncated), input="hi\n")
    assert result.exit_code == 2 and "truncated.gguf: llama.cpp cannot load this file" in result.output
    assert "no run 'nope'" in cli("chat", "nope").output
    assert "no trained run to chat with" in cli("chat").output


def test_a_run_chats_through_mlx_with_its_adapters_and_its_trained_system_prompt(cli, tmp_path, tiny_path,
                                                                                  monkeypatch):
    from tests.gate.test_gate_run import finished_run

    record = finished_run(tmp_path, tiny_path, monkeypatch)
    result = cli("chat", "--max-tokens", "6", input="plan?\n")  # no target: the latest run
    assert result.exit_code == 0, result.output
    assert "is not exported: chatting with the MLX model and its adapters" in result.output
    history = json.loads((record.path / "chat" / "history.json").read_text())
    assert history["system"] == "You are Sam." and history["messages"][0] == {"role": "user", "content": "plan?"}
    assert "+ " in history["model"]["model"] and str(record.path) in history["model"]["model"]


class _FakeServer:
    """An OpenAI-compatible server on 127.0.0.1 that streams a fixed reply in chunks, exo-style comments included."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                if status != 200:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b'{"detail": "No instance found for model x"}')
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in ("climb ", "at ", "six."):
                    chunk = {"choices": [{"delta": {"content": piece}}]}
                    self.wfile.write(b": prefill_progress {}\n\n" + f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_server_streams_the_reply_and_gets_the_whole_conversation(cli, workspace):
    server = _FakeServer()
    try:
        result = cli("chat", "--server", server.url, "--model", "local/me", "--system", "be brief",
                     input="plan?\nand then?\n")
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert result.output.count("climb at six.") == 2
    last = server.requests[-1]
    assert last["model"] == "local/me" and last["stream"] is True
    assert [m["role"] for m in last["messages"]] == ["system", "user", "assistant", "user"]


def test_a_server_without_the_model_or_down_is_a_message(cli, workspace):
    server = _FakeServer(status=404)
    try:
        result = cli("chat", "--server", server.url, "--model", "x", input="hi\n")
    finally:
        server.close()
    assert result.exit_code == 2 and "answered 404" in result.output and "place it first" in result.output
    result = cli("chat", "--server", "http://127.0.0.1:9", input="hi\n")
    assert result.exit_code == 2 and "cannot reach the server" in result.output


class _Scripted(Backend):
    name = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.seen: list[Chat] = []

    def generate(self, chats, max_tokens, progress=None):
        return [self.replies.pop(0) for _ in chats]

    def stream(self, chat: Chat, max_tokens: int, temperature: float = 0.0) -> Iterator[str]:
        self.seen.append(chat)
        yield from re.findall(r"\S+\s*", self.replies.pop(0))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}


def test_a_high_risk_message_gets_crisis_resources_first_and_the_filter_holds_back_doses(tmp_path):
    backend = _Scripted(["I hear you. I'm here.", "Take 40 mg of it.", "You have depression."])
    session = ChatSession(backend, tmp_path / "h.json", safety=SafetyLayer())
    out: list[str] = []
    run_loop(session, reader(["i have the pills counted out and i'm going to take them all tonight",
                              "what dose of melatonin should i take", "how should i plan my week?"]), out.append)
    text = "".join(out)
    first_reply = text.split("\n\n", 1)
    assert first_reply[0] == DEFAULT_CRISIS_MESSAGE  # before any model text
    assert "I hear you. I'm here." in text
    assert "held back the model's reply: it names a medication dose" in text and "40 mg" not in text
    assert "held back the model's reply: it diagnoses you" in text
    assert session.risk_log[0]["level"] == "high"
    assert session.messages[3]["content"].startswith("[notme held back")  # history keeps what was shown


def test_an_interrupted_turn_is_not_kept(tmp_path):
    class Interrupted(_Scripted):
        def stream(self, chat, max_tokens, temperature=0.0):
            yield "half"
            raise KeyboardInterrupt

    session = ChatSession(Interrupted([]), tmp_path / "h.json")
    out: list[str] = []
    run_loop(session, reader(["hello"]), out.append)
    assert session.messages == [] and "not kept" in "".join(out)


def reader(lines: list[str]):
    """input() for run_loop: the lines, then end of input."""
    pending = iter(lines)

    def read() -> str:
        try:
            return next(pending)
        except StopIteration:
            raise EOFError from None

    return read


def test_a_conversation_longer_than_the_context_window_drops_its_oldest_turns_not_the_chat(tiny_gguf, tmp_path):
    from notme.backends.llamacpp import LlamaCppBackend
    from notme.errors import NotmeError

    backend = LlamaCppBackend(tiny_gguf, context=256)
    try:
        session = ChatSession(backend, tmp_path / "h.json", system="be brief", max_tokens=16)
        earlier = " ".join(f"w{i}" for i in range(12))  # twenty of these are well over 256 tokens
        session.messages = [{"role": role, "content": f"{role} {n}: {earlier}"}
                            for n in range(10) for role in ("user", "assistant")]
        sent = session.chat()
        assert sent[0]["role"] == "system" and sent[1]["role"] == "user" and sent[-1] == session.messages[-1]
        assert 1 < len(sent) < 21 and backend.fits(sent, 16) and not backend.fits(session.messages, 16)
        reply = "".join(session.reply("and now?"))
        assert reply and len(session.messages) == 22  # the history keeps every turn
        with pytest.raises(NotmeError, match="longer than the model's context window"):
            "".join(backend.stream([{"role": "user", "content": earlier * 20}], 16))
    finally:
        backend.close()
