"""The constitution protocol's first two phases (the third, Integration, is `notme train constitution`).

    model.py      which model answers: a base, a run, a GGUF file or an OpenAI-compatible server
    store.py      <workspace>/constitution/: interview transcripts, the draft, accepted versions
    interview.py  `notme interview`: a conversation about harm, /draft, /accept
    practice.py   `notme practice`: scenarios → impulsive answer, critique, refined answer → pairs
"""
