"""Sample exports written by notme's own generators, from the fictional owner in persona.yaml.

The same builders produce the test fixtures (with every quirk of each format), the bundled
demo corpus and the benchmark inputs: one place knows each format's structure.
"""
