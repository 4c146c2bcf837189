"""Export: a gated run → GGUF files for llama.cpp / Ollama / LM Studio, checked against the trained model.

    gguf_model.write_gguf(folder, out)            an MLX model folder → F16/F32 GGUF (gguf-py)
    gguf_vocab.add_tokenizer(writer, folder, n)   the tokenizer and chat template, as llama.cpp reads them
    gguf_lora.write_lora_gguf(run, base, out)     the LoRA alone as a GGUF adapter
    quantize.quantize_gguf(f16, out, "q4_k_m")    llama.cpp's own quantizer
    parity.check_gguf(reference, gguf)            template, tokens, logits, stop tokens vs the MLX model
    ollama / exo                                  Modelfile and `ollama create`; exo's folder, card, placement
    card.model_card(record, run)                  the model card
    run.export_run(run, ...)                      `notme export RUN`: all of the above, gated
"""
