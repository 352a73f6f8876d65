"""Call recorder: holds a provider's media WebSocket and streams the call to a WAV file in storage."""
