"""contents (to be implemented)."""
