"""Conversations: the store with each answer's provenance, the chat glue, and export."""
