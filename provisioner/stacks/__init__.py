"""Stacks: which resources a stack needs, given its config. The only place that knows Metaflow."""
