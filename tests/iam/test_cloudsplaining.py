"""cloudsplaining (an IAM auditing tool) on every role the stacks make: preset full (the UI on) and the mlflow stack.

Each role's inline and attached policies are scanned as one document, as ``cloudsplaining scan-policy-file``
does, with its default exclusions. Default mode flags actions a statement grants on ``"*"`` without conditions;
"flag all risky actions" mode also looks at statements scoped by ARN or condition.

Before issue 15 preset full had 39 infrastructure-modification findings in default mode; what is left are the
grants AWS offers no resource scoping for (``REMAINING``, each with its reason; docs/SECURITY.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from cloudsplaining.command.scan_policy_file import scan_policy

from tests.iam.roles import Role
from tests.iam.stacks import full_config, mlflow_config, policies_of, roles

#: (role address, action) -> why it stays on "*"
REMAINING = {
    ("iam.role.migration_lambda", "ec2:CreateNetworkInterface"): (
        "Lambda makes the VPC function's network interfaces with its execution role; AWS documents these on '*' "
        "(AWSLambdaVPCAccessExecutionRole) and the interface does not exist before"
    ),
    ("iam.role.migration_lambda", "ec2:DeleteNetworkInterface"): (
        "Lambda deletes them with the same role; their ids are Lambda's, not known to the stack"
    ),
}
#: ecr:GetAuthorizationToken has no resource types (Service Authorization Reference): a registry token, '*' only
CREDENTIALS = {
    ("iam.role.ecs_execution", "ecr:GetAuthorizationToken"),
    ("iam.role.notebook", "ecr:GetAuthorizationToken"),
}


def scan(role: Role, *, all_risky: bool = False) -> dict[str, list[Any]]:
    doc = {"Version": "2012-10-17", "Statement": [s for d in policies_of(role).values() for s in d["Statement"]]}
    results = scan_policy(doc, flag_conditional_statements=all_risky, flag_resource_arn_statements=all_risky)
    return {k: list(v["findings"]) for k, v in results.items() if isinstance(v, dict) and v.get("findings")}


def findings(all_roles: dict[str, Role], kind: str, *, all_risky: bool = False) -> set[tuple[str, str]]:
    out = set()
    for address, role in all_roles.items():
        if role.managed:  # AWS's own managed policies (the ECS instance role's) are not ours to scope
            role = Role(role.address, role.name, role.trust, role.inline)
        for f in scan(role, all_risky=all_risky).get(kind, []):
            out.add((address, f if isinstance(f, str) else f["type"]))
    return out


@pytest.fixture(scope="module")
def full() -> dict[str, Role]:
    return roles(full_config())


def test_full_has_no_escalation_exposure_or_exfiltration(full: dict[str, Role]) -> None:
    for kind in ("PrivilegeEscalation", "ResourceExposure", "DataExfiltration", "ServiceWildcard"):
        assert findings(full, kind) == set(), kind


def test_full_infrastructure_modification_only_where_aws_offers_no_scoping(full: dict[str, Role]) -> None:
    assert findings(full, "InfrastructureModification") == set(REMAINING)
    assert findings(full, "CredentialsExposure") == CREDENTIALS


def test_full_passes_no_role_to_a_new_compute_even_counting_scoped_grants(full: dict[str, Role]) -> None:
    """With every scoped statement counted too, no escalation path through iam:PassRole is left (before: the job
    and user roles to SageMaker training jobs, the Batch service role to EC2 and ECS); the user role's one finding
    is opening its own notebook, which is what it is for."""
    assert findings(full, "PrivilegeEscalation", all_risky=True) == {
        ("iam.role.metaflow_user", "CreatePresignedSageMakerNotebookUrl")
    }


def test_mlflow_has_no_finding_on_star() -> None:
    mlflow = roles(mlflow_config())
    for kind in ("PrivilegeEscalation", "ResourceExposure", "DataExfiltration", "InfrastructureModification",
                 "CredentialsExposure"):  # fmt: skip
        assert findings(mlflow, kind) == set(), kind


if __name__ == "__main__":  # python -m tests.iam.test_cloudsplaining: the counts per kind, both modes
    for label, stack in (("full", roles(full_config())), ("mlflow", roles(mlflow_config()))):
        for risky in (False, True):
            kinds = ("PrivilegeEscalation", "ResourceExposure", "DataExfiltration", "InfrastructureModification",
                     "CredentialsExposure", "ServiceWildcard")  # fmt: skip
            counts = {k: len(findings(stack, k, all_risky=risky)) for k in kinds}
            print(label, "flag-all-risky" if risky else "default", counts)
