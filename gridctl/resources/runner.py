"""Kinds of module runner (to be implemented)."""

KINDS: list = []
