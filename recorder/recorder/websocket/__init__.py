"""The recorder's WebSocket layer: `frames` parses (sans-I/O), `connection` does a call's socket I/O with it."""
