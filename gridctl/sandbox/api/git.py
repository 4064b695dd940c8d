"""git (to be implemented)."""
