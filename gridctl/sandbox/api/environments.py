"""environments (to be implemented)."""
