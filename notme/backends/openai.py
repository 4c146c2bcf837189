"""Any OpenAI-compatible chat server: exo, mlx_lm.server, Ollama (`/v1`), LM Studio, llama.cpp's server.

Plain HTTP with the standard library; several requests in flight at once, since servers batch them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from notme.backends.base import Backend, Chat
from notme.errors import NotmeError


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, url: str, model: str, api_key: str | None = None, parallel: int = 4,
                 timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.endswith("/v1"):
            self.url += "/v1"
        self.model, self.api_key, self.parallel, self.timeout = model, api_key, parallel, timeout

    def _complete(self, chat: Chat, max_tokens: int) -> str:
        body = json.dumps({"model": self.model, "messages": chat, "max_tokens": max_tokens,
                           "temperature": 0.0, "seed": 0, "stream": False}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.url}/chat/completions", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = json.load(response)
        except urllib.error.HTTPError as e:
            raise NotmeError(f"{self.url}: the server answered {e.code} ({e.read()[:200].decode(errors='replace')})"
                             ) from e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise NotmeError(f"{self.url}: cannot reach the server ({getattr(e, 'reason', e)}); is it running?") from e
        except json.JSONDecodeError as e:
            raise NotmeError(f"{self.url}: the server's answer is not JSON ({e})") from e
        try:
            return data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as e:
            raise NotmeError(f"{self.url}: not an OpenAI chat completion: {str(data)[:200]}") from e

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
