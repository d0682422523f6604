"""The sandbox's moto server: moto's own server, with the shims that make it behave as AWS does where moto falls
short (``provisioner.sandbox.shims``). Run by ``mfprov sandbox start``; the arguments are moto's."""

from __future__ import annotations

import sys

from provisioner.core.gc_tuning import collect_less, keep_what_is_loaded
from provisioner.sandbox import shims as sandbox_shims
from provisioner.sandbox import speed


def main() -> None:
    collect_less()
    speed.install()
    from moto.server import main as moto_main

    sandbox_shims.install()
    keep_what_is_loaded()
    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
