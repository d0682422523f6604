"""A stack built with a Batch service role of its own (every stack before the service-linked role, or
``batch.custom_service_role = true``) moves to the service-linked role in one `up`: AWS cannot switch an
environment's role kind in place, so the compute environment and its queue are replaced, the old role deleted."""

from __future__ import annotations

from tests.stack.conftest import Stack


def test_moving_to_the_service_linked_role_replaces_the_environment(stack: Stack) -> None:
    text = stack.path.read_text()
    assert "custom_service_role = false" in text
    stack.path.write_text(text.replace("custom_service_role = false", "custom_service_role = true", 1))
    stack.up()
    before = stack.state().resources
    assert "iam.role.batch_service" in before

    stack.path.write_text(text)
    out = stack.up()
    after = stack.state().resources
    assert "iam.role.batch_service" not in after
    assert out.mutating.get("batch:CreateComputeEnvironment") == 1 and out.mutating.get("batch:CreateJobQueue") == 1
    assert stack.drift().value == [] and stack.up().mutating == {}
