"""The Chat section and its parts."""
