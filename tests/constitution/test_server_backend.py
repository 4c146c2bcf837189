"""The OpenAI-compatible backend against a real mlx_lm.server (started by the test on 127.0.0.1), and
against small fake servers for the failures a real one will not produce on cue."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notme.backends.openai import OpenAIBackend
from notme.errors import NotmeError
from tests.constitution.conftest import SERVED, free_port

CHAT = [{"role": "user", "content": "say something"}]


def test_streaming_and_whole_replies_from_a_real_server(mlx_server):
    backend = OpenAIBackend(mlx_server, SERVED)
    pieces = list(backend.stream(CHAT, 12, temperature=0.0))
    assert len(pieces) > 1  # it came in pieces
    whole = backend.generate([CHAT], 12)[0]
    assert "".join(pieces) == whole  # greedy: the same reply either way
    replies = backend.generate([CHAT, [{"role": "user", "content": "another"}], CHAT], 8)
    assert len(replies) == 3 and replies[0] == replies[2]


def test_a_model_the_server_does_not_have_says_how_to_place_it(mlx_server):
    backend = OpenAIBackend(mlx_server, "someone/not-loaded", retries=0)
    with pytest.raises(NotmeError, match=r"404.*no model 'someone/not-loaded' loaded.*place it"):
        backend.generate([CHAT], 4)


def test_a_timeout_is_retried_then_reported(mlx_server):
    backend = OpenAIBackend(mlx_server, SERVED, timeout=0.0005, retries=2, backoff=0.01)
    with pytest.raises(NotmeError, match=r"tried 3 times"):
        list(backend.stream(CHAT, 200))


def test_a_server_that_is_down_is_a_clear_error():
    backend = OpenAIBackend(f"http://127.0.0.1:{free_port()}", SERVED, retries=1, backoff=0.01)
    with pytest.raises(NotmeError, match=r"cannot reach the server .*is it running\? \(tried 2 times\)"):
        backend.generate([CHAT], 4)


class Flaky(BaseHTTPRequestHandler):
    """503 twice, then a reply; a 400 for a request that says "bad"."""
    calls = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        if b"bad" in body:
            self._send(400, b'{"error": "bad request"}')
        elif type(self).calls <= 2:
            self._send(503, b'{"error": "busy"}')
        else:
            self._send(200, b'{"choices": [{"message": {"content": "at last"}}]}')

    def _send(self, code, payload):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    Flaky.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_busy_server_is_tried_again_with_backoff(flaky):
    backend = OpenAIBackend(flaky, "m", retries=3, backoff=0.01)
    assert backend.generate([CHAT], 4) == ["at last"]
    assert Flaky.calls == 3


def test_a_request_the_server_refuses_is_not_retried(flaky):
    Flaky.calls = 5  # past the busy phase
    backend = OpenAIBackend(flaky, "m", retries=3, backoff=0.01)
    with pytest.raises(NotmeError, match="400"):
        backend.generate([[{"role": "user", "content": "bad"}]], 4)
    assert Flaky.calls == 6


class Breaking(BaseHTTPRequestHandler):
    """A stream cut off: before its first piece on the first request, after one piece on the next."""
    protocol_version = "HTTP/1.1"
    calls = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if type(self).calls > 1:
            line = b'data: {"choices": [{"delta": {"content": "first"}}]}\n\n'
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()
        self.close_connection = True  # no closing chunk: the reply breaks off here

    def log_message(self, *args):
        pass


def test_a_stream_that_breaks_off_is_retried_before_its_first_piece_and_reported_after():
    Breaking.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Breaking)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{server.server_address[1]}", "m", retries=2, backoff=0.01)
        pieces = []
        with pytest.raises(NotmeError, match="the reply broke off"):
            for piece in backend.stream(CHAT, 8):
                pieces.append(piece)
        assert pieces == ["first"] and Breaking.calls == 2  # the second try gave a piece: not tried again
    finally:
        server.shutdown()
