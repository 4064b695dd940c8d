"""Kinds of module deploy_key (to be implemented)."""

KINDS: list = []
