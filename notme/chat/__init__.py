"""`notme chat`: a terminal chat with a run, a GGUF file or a server, with a safety layer.

    target.open_target(...)        what to talk to: exported GGUF, MLX + adapters, GGUF file, server
    session.ChatSession / run_loop history on disk, slash commands, streaming
    safety.SafetyLayer             risk check before the model, response filter after
    risk.load_risk_model()         the none / low / medium / high classifier, trained and cached
"""
