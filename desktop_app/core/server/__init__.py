"""Hearth's own OpenAI-compatible server (opt-in, loopback unless the user says otherwise)."""
