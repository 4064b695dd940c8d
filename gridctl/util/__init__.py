"""Pure helpers any layer may import: no GitHub, no I/O beyond what they are given."""
