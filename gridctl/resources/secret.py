"""Kinds of module secret (to be implemented)."""

KINDS: list = []
