"""The reference server: an aiohttp transcription backend that reproduces the incident.

One code base, three designs chosen at start (`--mode db-polling|memory-first|lean`),
each a preset of named switches (see `modes.py`), so a comparison isolates the design.
It never imports loadtests, locust or profiling; it owns its own instrumentation.
"""
