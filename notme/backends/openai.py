"""Any OpenAI-compatible chat server: exo, mlx_lm.server, Ollama (`/v1`), LM Studio, llama.cpp's server.

Plain HTTP with the standard library; several requests in flight at once, since servers batch them.
A request that fails on the way (connection refused or reset, a timeout, 429 / 500 / 502 / 503 / 504)
is tried again after a pause that doubles each time; one the server refuses for good (a missing model,
a bad request) is an error at once. A streamed reply is retried only before its first piece arrived.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from notme.backends.base import Backend, Chat
from notme.errors import NotmeError

_RETRY_STATUS = (429, 500, 502, 503, 504)


class _Transient(Exception):
    """A failure worth another try."""


class _BrokenOff(Exception):
    """A streamed reply that stopped coming before its end."""


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, url: str, model: str, api_key: str | None = None, parallel: int = 4,
                 timeout: float = 300.0, retries: int = 3, backoff: float = 1.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.endswith("/v1"):
            self.url += "/v1"
        self.model, self.api_key, self.parallel, self.timeout = model, api_key, parallel, timeout
        self.retries, self.backoff = retries, backoff

    def _open(self, chat: Chat, max_tokens: int, temperature: float, stream: bool):
        """The server's response, after up to `retries` more tries of a failure that may pass."""
        for attempt in range(self.retries + 1):
            try:
                return self._open_once(chat, max_tokens, temperature, stream)
            except _Transient as e:
                if attempt == self.retries:
                    raise NotmeError(f"{e} (tried {self.retries + 1} times)") from e
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _open_once(self, chat: Chat, max_tokens: int, temperature: float, stream: bool):
        # No "seed": greedy needs none, sampled replies should differ, and mlx_lm.server answers seeded
        # requests one at a time instead of batching them (measured: 1.0× instead of 3.2× for 4 at once).
        body = json.dumps({"model": self.model, "messages": chat, "max_tokens": max_tokens,
                           "temperature": temperature, "stream": stream}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.url}/chat/completions", data=body, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            detail = e.read()[:200].decode(errors="replace")
            if e.code in _RETRY_STATUS:
                raise _Transient(f"{self.url}: the server answered {e.code} ({detail})") from e
            hint = (f"; the server has no model {self.model!r} loaded (for exo: place it first, e.g. "
                    "`notme export RUN --to exo --cluster URL`)") if e.code == 404 else ""
            raise NotmeError(f"{self.url}: the server answered {e.code} ({detail}){hint}") from e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise _Transient(f"{self.url}: cannot reach the server ({getattr(e, 'reason', e)}); is it running?") from e

    def _complete(self, chat: Chat, max_tokens: int, temperature: float = 0.0) -> str:
        try:
            with self._open(chat, max_tokens, temperature, stream=False) as response:
                data = json.load(response)
        except json.JSONDecodeError as e:
            raise NotmeError(f"{self.url}: the server's answer is not JSON ({e})") from e
        except (TimeoutError, ConnectionError, http.client.HTTPException) as e:  # the body stopped coming
            raise NotmeError(f"{self.url}: the reply broke off ({e})") from e
        try:
            return data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as e:
            raise NotmeError(f"{self.url}: not an OpenAI chat completion: {str(data)[:200]}") from e

    def stream(self, chat: Chat, max_tokens: int, temperature: float = 0.0) -> Iterator[str]:
        """Server-sent events: `data: {chunk}` lines, `data: [DONE]` at the end (exo sends errors as
        `data: {"error": ...}` and progress as `:` comments). A stream that breaks off is tried again
        if nothing of it arrived yet, and is an error once pieces were shown."""
        for attempt in range(self.retries + 1):
            pieces = 0
            try:
                with self._open(chat, max_tokens, temperature, stream=True) as response:
                    for text in self._events(response):
                        pieces += 1
                        yield text
                return
            except (_BrokenOff, TimeoutError, ConnectionError, http.client.HTTPException) as e:
                if pieces or attempt == self.retries:
                    after = f" after {pieces} piece(s)" if pieces else f" (tried {attempt + 1} times)"
                    raise NotmeError(f"{self.url}: the reply broke off{after}: {e or type(e).__name__}") from e
                time.sleep(self.backoff * 2**attempt)

    def _events(self, response) -> Iterator[str]:
        finished = False
        for raw in response:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            try:
                chunk = json.loads(payload)
            except json.JSONDecodeError as e:
                raise NotmeError(f"{self.url}: a streamed chunk is not JSON: {payload[:200]}") from e
            if "error" in chunk:
                raise NotmeError(f"{self.url}: the server failed mid-reply: {str(chunk['error'])[:200]}")
            choice = (chunk.get("choices") or [{}])[0]
            finished = finished or bool(choice.get("finish_reason"))
            text = (choice.get("delta") or choice.get("message") or {}).get("content")
            if text:
                yield text
        if not finished:  # neither [DONE] nor a finish reason: the connection closed mid-reply
            raise _BrokenOff("the stream ended before the reply was finished")

    def generate(self, chats: list[Chat], max_tokens: int,
                 progress: Callable[[int], None] | None = None) -> list[str]:
        def one(chat: Chat) -> str:
            reply = self._complete(chat, max_tokens)
            if progress:
                progress(1)
            return reply

        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            return list(pool.map(one, chats))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "url": self.url}
