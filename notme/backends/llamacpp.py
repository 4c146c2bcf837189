"""llama.cpp in process (llama-cpp-python): a GGUF file, as Ollama and LM Studio would run it."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from notme.backends.base import Backend, Chat
from notme.errors import NotmeError


def _cpu_has_amx() -> bool:
    if platform.system() != "Linux":
        return False
    try:
        return " amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@contextlib.contextmanager
def _without_extra_buffers() -> Iterator[None]:
    """llama-cpp-python's Llama() takes no `use_extra_bufts`, so swap in default model parameters
    with it off while one model loads."""
    import llama_cpp.llama_cpp as capi

    original = capi.llama_model_default_params

    def defaults():
        params = original()
        params.use_extra_bufts = False
        return params

    capi.llama_model_default_params = defaults
    try:
        yield
    finally:
        capi.llama_model_default_params = original


def open_llama(path: str | Path, **options: Any) -> Any:
    """The one place a llama_cpp.Llama is made. On CPUs with AMX (Intel Sapphire Rapids and newer,
    Linux) llama.cpp repacks weights into AMX buffers and can segfault in ggml_backend_amx_mul_mat
    (ggml-org/llama.cpp#20824, machine-dependent, unfixed): there the repacking is turned off, which
    costs some CPU speed and changes no result. Macs never take this path."""
    from llama_cpp import Llama

    guard = _without_extra_buffers() if _cpu_has_amx() else contextlib.nullcontext()
    with guard:
        return Llama(model_path=str(path), **options)


class LlamaCppBackend(Backend):
    name = "llamacpp"

    def __init__(self, model: str | Path, context: int = 4096, threads: int | None = None,
                 lora: str | Path | None = None) -> None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise NotmeError(f"{path}: no such GGUF file")
        options = {"lora_path": str(lora)} if lora else {}
        try:
            self.llm = open_llama(path, n_ctx=context, n_threads=threads, verbose=False, seed=0, **options)
        except ValueError as e:
            raise NotmeError(f"{path}: llama.cpp cannot load this file ({e})") from e
        self.path = path

    def generate(self, chats: list[Chat], max_tokens: int,
                 progress: Callable[[int], None] | None = None) -> list[str]:
        replies = []
        for chat in chats:  # llama-cpp-python decodes one sequence at a time
            with self._context_errors():
                out = self.llm.create_chat_completion(messages=chat, max_tokens=max_tokens, temperature=0.0, top_k=1)
            replies.append(out["choices"][0]["message"]["content"] or "")
            if progress:
                progress(1)
        return replies

    def stream(self, chat: Chat, max_tokens: int, temperature: float = 0.0) -> Iterator[str]:
        with self._context_errors():
            chunks = self.llm.create_chat_completion(messages=chat, max_tokens=max_tokens, temperature=temperature,
                                                     top_k=1 if temperature == 0 else 40, stream=True)
            for chunk in chunks:
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    yield text

    def fits(self, chat: Chat, max_tokens: int) -> bool:
        # the chat template adds a few tokens per message (role markers): 8 covers ChatML, Llama 3, Gemma
        used = sum(len(self.llm.tokenize(m["content"].encode("utf-8"), add_bos=False)) + 8 for m in chat)
        return used + max_tokens <= self.llm.n_ctx()

    @contextlib.contextmanager
    def _context_errors(self) -> Iterator[None]:
        try:
            yield
        except ValueError as e:  # llama.cpp refuses a prompt longer than its window with a ValueError
            if "context window" not in str(e):
                raise
            raise NotmeError(f"{self.path.name}: the message is longer than the model's context window "
                             f"({self.llm.n_ctx()} tokens): {e}") from e

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": str(self.path)}

    def close(self) -> None:
        self.llm.close()
