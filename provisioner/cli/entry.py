"""The ``mfprov`` command's entry point: the collector is tuned before the command's modules are imported (their
import is a large part of a short command's work), then the command runs."""

from __future__ import annotations

from provisioner.core.gc_tuning import collect_less


def main() -> None:
    collect_less()
    from provisioner.cli.main import main as run

    run()
