"""iam resources (being written)."""
