"""What the tests share besides fixtures (those are in tests/conftest.py):

- `stack`: the local stack as the integration tests run it (`running_stack`, `Stack`, `Recording`, `wait_for`);
- `rawws`: a WebSocket client that sends malformed frames on purpose;
- `g711_reference`: G.711 mu-law decoding written out from the standard, the oracle for the recorder's;
- `terminal`: a command in a pseudo-terminal, for a real Ctrl-C and a real TTY.
"""
