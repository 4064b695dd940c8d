"""variables (to be implemented)."""
