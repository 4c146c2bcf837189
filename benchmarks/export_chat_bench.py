"""Export and chat: export time per quantization with its parity figures, then chat speed of the GGUF in
llama.cpp against the MLX model in process, and the safety layer's cost — all in one run.

Model: SmolLM2-135M-Instruct (the bundled base, float32 in MLX) with a LoRA adapter of rank 16 on every
layer's attention and MLP (random, so the fused weights differ from the base). Steps timed: fuse,
F16 GGUF, each quantization, the LoRA adapter GGUF, and each parity check. Chat: the same --turns
user messages, greedy, at most --max-tokens tokens, through `notme.backends`' streaming
(llama.cpp: each GGUF; MLX: the fused model, the baseline ×1.00); generated tokens per second and
reply latency p50 / p95. The safety layer: risk classifier latency per message, p50 / p95.

    .venv/bin/python benchmarks/export_chat_bench.py [--turns 12] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MESSAGES = ["what are you up to this weekend?", "can you explain what a hash map is, briefly?",
            "give me three dinner ideas with lentils", "how do I undo my last git commit?",
            "write a two-line poem about rain", "what's a good way to start running?",
            "summarise the plot of hamlet in two sentences", "is it worth learning rust in 2026?",
            "how long should I boil an egg?", "tips for a job interview tomorrow?",
            "what's the difference between tcp and udp?", "recommend a board game for four people"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def chat_speed(backend, tokenizer, turns: int, max_tokens: int) -> tuple[float, float, float, int]:
    """(tokens/s, latency p50, latency p95, tokens) over `turns` single-message chats; tokens are counted
    with the same tokenizer for every backend."""
    latencies, tokens, busy = [], 0, 0.0
    for message in (MESSAGES * 4)[:turns]:
        started = time.perf_counter()
        reply = "".join(backend.stream([{"role": "user", "content": message}], max_tokens))
        elapsed = time.perf_counter() - started
        latencies.append(elapsed)
        busy += elapsed
        tokens += max(1, len(tokenizer.encode(reply, add_special_tokens=False)))
    return tokens / busy, statistics.median(latencies), percentile(latencies, 0.95), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    from notme.blas import reexec_with_openblas

    reexec_with_openblas([str(Path(__file__).resolve()), *sys.argv[1:]])
    import json

    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load

    from notme.backends.llamacpp import LlamaCppBackend
    from notme.backends.mlx import MLXBackend
    from notme.chat.risk import load_risk_model
    from notme.export.gguf_lora import write_lora_gguf
    from notme.export.gguf_model import write_gguf
    from notme.export.parity import MLXReference, check_gguf
    from notme.export.quantize import PARITY_COSINE, quantize_gguf
    from notme.models import resolve_model
    from notme.models.fuse import fuse_adapters

    base = resolve_model("smollm2")
    work = Path(tempfile.mkdtemp(prefix="notme-export-bench-"))
    model, _ = load(str(base))
    model.freeze()
    params = {"rank": 16, "scale": 2.0, "dropout": 0.0}
    linear_to_lora_layers(model, 30, params)
    rng = np.random.default_rng(0)
    adapters = work / "run"
    adapters.mkdir()
    mx.save_safetensors(str(adapters / "adapters.safetensors"),
                        {k: mx.array(rng.standard_normal(v.shape, dtype=np.float32) * 0.02)
                         for k, v in tree_flatten(model.trainable_parameters())})
    (adapters / "adapter_config.json").write_text(json.dumps({"fine_tune_type": "lora", "num_layers": 30,
                                                              "lora_parameters": params}))
    del model

    timings: dict[str, float] = {}

    def timed(label, fn, *a, **k):
        started = time.perf_counter()
        result = fn(*a, **k)
        timings[label] = time.perf_counter() - started
        return result

    fused = timed("fuse (MLX)", fuse_adapters, base, adapters, work / "fused")
    f16 = timed("GGUF F16", write_gguf, fused, work / "m-F16.gguf")
    files = {"f16": f16}
    for quant in ("q8_0", "q4_k_m"):
        files[quant] = timed(f"quantize {quant.upper()}", quantize_gguf, f16, work / f"m-{quant.upper()}.gguf", quant)
    base_gguf = timed("GGUF F16 of the base", write_gguf, base, work / "base-F16.gguf")
    lora = timed("LoRA adapter GGUF", write_lora_gguf, adapters, base, work / "lora.gguf")
    fused_model, tokenizer = load(str(fused))
    reference = timed("parity reference (MLX)", MLXReference, fused_model, tokenizer)

    print("SmolLM2-135M-Instruct + LoRA r16 on 30 layers, this machine")
    print("\nexport step                      seconds     size")
    for label in ("fuse (MLX)", "GGUF F16", "quantize Q8_0", "quantize Q4_K_M", "GGUF F16 of the base",
                  "LoRA adapter GGUF", "parity reference (MLX)"):
        path = {"GGUF F16": f16, "quantize Q8_0": files["q8_0"], "quantize Q4_K_M": files["q4_k_m"],
                "GGUF F16 of the base": base_gguf, "LoRA adapter GGUF": lora}.get(label)
        size = f"{path.stat().st_size / 1e6:8.1f} MB" if path else ""
        print(f"{label:<30} {timings[label]:8.2f}   {size}")

    print("\nparity                           seconds  min cosine  threshold  prompt  tokens  stops")
    for quant, path in files.items():
        started = time.perf_counter()
        check = check_gguf(reference, path, PARITY_COSINE[quant])
        _print_parity(path.name, time.perf_counter() - started, check)
    started = time.perf_counter()
    check = check_gguf(reference, base_gguf, PARITY_COSINE["f16"], lora=lora)
    _print_parity("base F16 + LoRA GGUF", time.perf_counter() - started, check)

    print(f"\nchat: {args.turns} messages, greedy, at most {args.max_tokens} tokens each")
    print("backend                        tokens/s   ratio   latency p50   p95")
    mlx_backend = MLXBackend(loaded=(fused_model, tokenizer), label="fused")
    baseline = chat_speed(mlx_backend, tokenizer, args.turns, args.max_tokens)
    print(f"MLX in process (float32)       {baseline[0]:8.1f}   ×1.00   {baseline[1]:8.2f} s  {baseline[2]:6.2f} s")
    for quant in ("f16", "q8_0", "q4_k_m"):
        backend = LlamaCppBackend(files[quant], context=2048)
        speed = chat_speed(backend, tokenizer, args.turns, args.max_tokens)
        backend.close()
        print(f"llama.cpp GGUF {quant.upper():<15} {speed[0]:8.1f}   ×{speed[0] / baseline[0]:.2f}   "
              f"{speed[1]:8.2f} s  {speed[2]:6.2f} s")

    started = time.perf_counter()
    risk = load_risk_model()
    load_seconds = time.perf_counter() - started
    latencies = []
    for message in MESSAGES * 10:
        started = time.perf_counter()
        risk.rate(message)
        latencies.append(time.perf_counter() - started)
    print(f"\nsafety layer: risk classifier loaded/trained in {load_seconds:.1f} s; per message "
          f"p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {percentile(latencies, 0.95) * 1000:.1f} ms; "
          f"held-out high-risk recall {risk.held_out['high_recall']:.3f} ({risk.held_out['high']} messages)")


def _print_parity(label: str, seconds: float, check) -> None:
    prompts = check.prompts
    print(f"{label:<30} {seconds:8.2f}   {check.min_cosine:9.5f}  {check.threshold:9}  "
          f"{'same' if all(p.same_prompt for p in prompts) else 'DIFF':>6}  "
          f"{'same' if all(p.same_tokens for p in prompts) else 'DIFF':>6}  "
          f"{'yes' if check.stop_tokens_ok else 'NO':>5}")


if __name__ == "__main__":
    main()
