"""issues (to be implemented)."""
