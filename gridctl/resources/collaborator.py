"""Kinds of module collaborator (to be implemented)."""

KINDS: list = []
