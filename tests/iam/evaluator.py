"""The identity-policy evaluator the IAM tests use: it lives in ``provisioner/sandbox/iam.py`` since the sandbox's
``SimulatePrincipalPolicy`` (``provisioner/sandbox/shims.py``) answers with it too."""

from provisioner.sandbox.iam import (
    Context,
    Decision,
    Evaluator,
    Statement,
    action_match,
    arn_like,
    condition_holds,
    conditions_hold,
    glob_match,
    resource_match,
)

__all__ = [
    "Context",
    "Decision",
    "Evaluator",
    "Statement",
    "action_match",
    "arn_like",
    "condition_holds",
    "conditions_hold",
    "glob_match",
    "resource_match",
]
