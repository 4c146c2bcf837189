"""exo: serve the fused model on the owner's cluster of Macs (integration.md §1.4–1.5).

exo runs MLX folders, not GGUF, and has no LoRA support, so it gets the fused MLX folder, named
`local--<name>` in its models directory, and a custom model card. `ExoClient.place` asks the
cluster's master to place an instance and waits on `/instance/await` until it is ready.
exo pulls nothing from peers: the folder must be on every node (or on shared storage named in
EXO_MODELS_READ_ONLY_DIRS) — `stage_for_exo` says so.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from notme.errors import NotmeError


def exo_home() -> Path:
    """exo's data folder: EXO_HOME, else ~/.exo on macOS and the XDG data folder elsewhere."""
    if os.environ.get("EXO_HOME"):
        return Path(os.environ["EXO_HOME"]).expanduser()
    if platform.system() == "Darwin":
        return Path.home() / ".exo"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "exo"


def model_id(name: str) -> str:
    return f"local/{name}"


def stage_for_exo(fused: Path, name: str, home: Path | None = None) -> dict[str, str]:
    """Copy the fused folder into exo's models folder and write its card; returns where they went."""
    home = home or exo_home()
    folder_name = model_id(name).replace("/", "--")
    target = home / "models" / folder_name
    if not any(fused.glob("*.safetensors.index.json")):
        raise NotmeError(f"{fused}: exo needs a model.safetensors.index.json beside the weights")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(fused, partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    card = home / "custom_model_cards" / f"{folder_name}.toml"
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text(model_card_toml(fused, name))
    return {"model_id": model_id(name), "folder": str(target), "card": str(card)}


def model_card_toml(fused: Path, name: str) -> str:
    """exo's custom card (ModelCard.save's fields). Written by hand: nine flat keys need no TOML library."""
    config = json.loads((fused / "config.json").read_text())
    size = sum(p.stat().st_size for p in fused.glob("*.safetensors"))
    values = {
        "model_id": model_id(name),
        "n_layers": int(config["num_hidden_layers"]),
        "hidden_size": int(config["hidden_size"]),
        "supports_tensor": config.get("model_type") in ("llama", "mistral", "qwen2", "qwen3"),
        "num_key_value_heads": int(config.get("num_key_value_heads", config["num_attention_heads"])),
        "tasks": ["TextGeneration"],
        "backends": ["MlxMetal", "MlxCuda", "MlxCpu"],
        "context_length": int(config.get("max_position_embeddings", 0)),
        "trust_remote_code": False,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join([*lines, "", "[storage_size]", f"in_bytes = {size}", ""])


class ExoClient:
    """The few calls of exo's HTTP API (port 52415) notme needs."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict | None = None, timeout: float | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode(errors="replace")
            raise NotmeError(f"exo at {self.url} answered {e.code} to {method} {path}: {detail}") from e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise NotmeError(f"cannot reach exo at {self.url} ({getattr(e, 'reason', e)}); is exo running? "
                             "(it listens on port 52415)") from e

    def place(self, model: str, wait_seconds: int = 300) -> dict:
        """Place an instance of `model` on the cluster and wait until it serves; returns the instance."""
        with self._request("POST", "/place_instance", {"model_id": model}) as response:
            json.load(response)
        query = urllib.parse.urlencode({"model_id": model, "timeout_seconds": min(wait_seconds, 300)})
        with self._request("GET", f"/instance/await?{query}", timeout=wait_seconds + 30) as response:
            for raw in response:  # server-sent events: "data: {...}" lines
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("type") == "ready":
                    return event.get("instance", {})
                if event.get("type") == "timeout":
                    raise NotmeError(f"exo did not get {model} ready in {wait_seconds} s: {event.get('message', '')}")
        raise NotmeError(f"exo's await stream for {model} ended without a ready event")
