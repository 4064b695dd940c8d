"""collaborators (to be implemented)."""
