"""A phone provider, simulated: fetches the answer document, connects to the WebSocket it names, streams audio.

Used by `make call`, `make demo`, the tests and the benchmark; works against a deployed stack too.
"""
