"""Data-parallel training over several Macs (or several processes on one) with `mlx.launch`.

Every rank runs `python -m notme.train.worker RUN` on the same run folder; mlx-lm's trainer averages
the gradients, notme's batcher gives each rank its share of the same global batch, and only rank 0
writes the run record. The hosts come from a hostfile in mlx's format (`mlx.distributed_config`
writes one), from an exo cluster's state API, or are N local processes.

Requirements on a real cluster (mlx's, not notme's): passwordless ssh to every host, the same Python
environment path on each, and the workspace on shared storage (or NOTME_HOME pointing at a copy).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from notme.errors import NotmeError
from notme.runs.record import RunRecord


def read_hostfile(path: Path) -> dict[str, Any]:
    """A hostfile in mlx.launch's format: {"backend", "hosts": [{"ssh", "ips": [...]}, ...]} or a bare list."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotmeError(f"{path}: no such hostfile") from None
    except json.JSONDecodeError as e:
        raise NotmeError(f"{path}: not valid JSON ({e})") from e
    hosts = data.get("hosts") if isinstance(data, dict) else data
    if not isinstance(hosts, list) or not hosts:
        raise NotmeError(f"{path}: no hosts (expected {{\"hosts\": [{{\"ssh\": ..., \"ips\": [...]}}]}})")
    for index, host in enumerate(hosts):
        if not isinstance(host, dict) or not host.get("ssh") or not host.get("ips"):
            raise NotmeError(f"{path}: host {index + 1} needs \"ssh\" and \"ips\" (mlx's ring backend uses the ips)")
    return data if isinstance(data, dict) else {"hosts": hosts}


def hostfile_from_exo(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """Hosts from an exo cluster: its nodes (topology) with their names and addresses. exo serves
    its state as camelCase JSON at GET /state (port 52415 by default)."""
    state_url = url.rstrip("/") + "/state"
    try:
        with urllib.request.urlopen(state_url, timeout=timeout) as response:
            state = json.load(response)
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise NotmeError(f"cannot reach the exo cluster at {state_url} ({e}); is exo running there?") from e
    except json.JSONDecodeError as e:
        raise NotmeError(f"{state_url} did not answer with JSON ({e}); is that an exo node?") from e
    nodes = ((state.get("topology") or {}).get("nodes")) or []
    hosts = []
    for node in nodes:
        node_id = node if isinstance(node, str) else (node or {}).get("nodeId", "")
        identity = (state.get("nodeIdentities") or {}).get(node_id) or {}
        name = next((identity[k] for k in ("hostname", "friendlyName", "name") if isinstance(identity.get(k), str)),
                    None)
        ips = _ipv4s((state.get("nodeNetwork") or {}).get(node_id))
        if not name or not ips:
            raise NotmeError(f"exo node {node_id} has no hostname or IPv4 address in {state_url}; "
                             "write a hostfile instead (mlx.distributed_config --output-hostfile hosts.json)")
        hosts.append({"ssh": name, "ips": ips[:1]})
    if len(hosts) < 2:
        raise NotmeError(f"the exo cluster at {url} has {len(hosts)} node(s); data-parallel training needs two or more")
    return {"backend": "ring", "hosts": hosts}


def _ipv4s(value: Any) -> list[str]:
    """Every IPv4 address anywhere in a node's network description, loopback last."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)
        elif isinstance(item, str):
            try:
                address = ipaddress.IPv4Address(item.split("/")[0])
            except ValueError:
                return
            if str(address) not in found:
                found.append(str(address))

    walk(value)
    return sorted(found, key=lambda a: ipaddress.IPv4Address(a).is_loopback)


def launch_command(record: RunRecord, hostfile: Path | None = None, local_ranks: int = 0,
                   backend: str = "ring") -> list[str]:
    launcher = shutil.which("mlx.launch") or str(Path(sys.executable).with_name("mlx.launch"))
    command = [launcher, "--backend", backend]
    if hostfile is not None:
        command += ["--hostfile", str(hostfile)]
    else:
        command += ["--hosts", "127.0.0.1", "-n", str(local_ranks)]
    # The interpreter must be given: mlx.launch no longer adds one (mlx PR #3536).
    return [*command, "--", sys.executable, "-m", "notme.train.worker", str(record.path)]


def launch(record: RunRecord, hostfile: Path | None = None, local_ranks: int = 0, backend: str = "ring") -> None:
    """Run the training of `record` on every rank; returns when all ranks have finished."""
    if hostfile is None and local_ranks < 2:
        raise NotmeError("distributed training needs a hostfile or at least two local ranks")
    ranks = len(read_hostfile(hostfile)["hosts"]) if hostfile is not None else local_ranks
    _check_divisible(record, ranks)
    subprocess.run(launch_command(record, hostfile, local_ranks, backend), check=False)
    # mlx.launch exits 0 even when a rank dies: the run's own status says whether it finished.
    status = record.status()
    if status.get("state") != "done":
        detail = status.get("message") or "a rank stopped early (its error is printed above)"
        if status.get("state") == "running":
            record.set_status("failed", message=detail)
        raise NotmeError(f"distributed training of {record.name} failed: {detail}")


def _check_divisible(record: RunRecord, ranks: int) -> None:
    from notme.recipe import load_recipe

    mode = load_recipe(record.path / "recipe.yaml").data["mode"]
    for stage in ("sft", "preference"):
        settings = mode.get(stage)
        if settings and settings["iters"] and settings["batch_size"] % ranks:
            raise NotmeError(f"mode.{stage}.batch_size ({settings['batch_size']}) must be a multiple of the number "
                             f"of ranks ({ranks}): each rank trains an equal share of every batch")
