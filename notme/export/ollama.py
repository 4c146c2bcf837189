"""Ollama: a Modelfile beside the GGUF, and `ollama create` when Ollama is installed.

New Ollama renders the GGUF's own embedded Jinja template; older versions need a Go TEMPLATE, and
every version stops only on the `PARAMETER stop` strings it is given. The Go templates come from a
small table per chat family, recognised from the Jinja template (as Unsloth does: integration.md §4.2);
an unknown family gets no TEMPLATE and relies on the embedded one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from notme.errors import NotmeError

FAMILIES: dict[str, dict] = {
    "chatml": {
        "marker": "<|im_start|>",
        "template": ("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
                     "{{ end }}<|im_start|>assistant\n"),
        "stops": ["<|im_start|>", "<|im_end|>"],
    },
    "llama3": {
        "marker": "<|start_header_id|>",
        "template": ("{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}"
                     "<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"),
        "stops": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    },
    "gemma": {  # no system role: the system prompt opens the first user turn, as Gemma's own template does
        "marker": "<start_of_turn>",
        "template": ("{{- $first := true }}{{- range .Messages }}{{- if ne .Role \"system\" }}<start_of_turn>"
                     "{{ if eq .Role \"assistant\" }}model{{ else }}user{{ end }}\n{{ if and $first $.System }}"
                     "{{ $.System }}\n\n{{ end }}{{ $first = false }}{{ .Content }}<end_of_turn>\n{{ end }}{{ end }}"
                     "<start_of_turn>model\n"),
        "stops": ["<start_of_turn>", "<end_of_turn>"],
    },
    "mistral": {
        "marker": "[INST]",
        "template": ("{{- $first := true }}{{- range .Messages }}{{- if eq .Role \"user\" }}[INST] "
                     "{{ if and $first $.System }}{{ $.System }}\n\n{{ end }}{{ $first = false }}{{ .Content }}[/INST]"
                     "{{- else if eq .Role \"assistant\" }} {{ .Content }}</s>{{ end }}{{ end }}"),
        "stops": ["[INST]", "[/INST]", "</s>"],
    },
}


def chat_family(chat_template: str) -> str | None:
    for name, family in FAMILIES.items():
        if family["marker"] in chat_template:
            return name
    return None


def modelfile(gguf_name: str, chat_template: str, stop_tokens: list[str], system: str = "",
              adapter: str | None = None) -> str:
    """A Modelfile for `gguf_name` (relative to the Modelfile), with `adapter` if given."""
    family = chat_family(chat_template)
    stops = list(dict.fromkeys([*(FAMILIES[family]["stops"] if family else []), *stop_tokens]))
    lines = [f"FROM ./{gguf_name}"]
    if adapter:
        lines.append(f"ADAPTER ./{adapter}")
    if family:
        lines.append(f'TEMPLATE """{FAMILIES[family]["template"]}"""')
    else:
        lines.append(f"# no Go TEMPLATE: chat family not recognised; Ollama uses the template embedded in {gguf_name}")
    if system:
        lines.append(f'SYSTEM """{system.replace(chr(34) * 3, chr(39) * 3)}"""')
    lines += [f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}" for stop in stops]
    return "\n".join(lines) + "\n"


def ollama_create(name: str, modelfile_path: Path) -> str:
    """Run `ollama create` if Ollama is installed; return what was done or what to run."""
    command = ["ollama", "create", name, "-f", modelfile_path.name]
    if shutil.which("ollama") is None:
        return f"Ollama is not installed here; to add the model:  cd {modelfile_path.parent} && {' '.join(command)}"
    done = subprocess.run(command, cwd=modelfile_path.parent, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()[-500:]
        raise NotmeError(f"`{' '.join(command)}` failed ({done.returncode}): {said}")
    return f"Ollama model {name!r} created: ollama run {name}"
