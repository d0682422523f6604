"""batch resources (being written)."""
