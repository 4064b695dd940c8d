"""Kinds of module environment (to be implemented)."""

KINDS: list = []
