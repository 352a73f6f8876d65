"""Answers phone providers' webhooks with documents that stream the call's audio to the recorder."""
