"""Loaded by every Python process a guarded test starts (PYTHONPATH): guard botocore when MFPROV_IAM_GUARD is set."""

import os

if os.environ.get("MFPROV_IAM_GUARD"):
    from tests.iam.hook import guard_from_spec

    guard_from_spec(os.environ["MFPROV_IAM_GUARD"]).install_everywhere()
