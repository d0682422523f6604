"""Comparison by meaning: no false drift from JSON shape, order or AWS's own tags."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from provisioner.engine.compare import diff, normalize_policy
from resources.base import Props, Resource


class FakeProps(Props):
    name: str
    rules: list[str] = []
    policy: dict = {}
    force_destroy: bool = False


class Fake(Resource[FakeProps]):
    kind = "test.fake"
    service = "none"
    Props = FakeProps
    replace_on: ClassVar = frozenset({"name"})
    unordered: ClassVar = frozenset({"rules"})
    policy_fields: ClassVar = frozenset({"policy"})
    behaviour_fields: ClassVar = frozenset({"force_destroy"})


def test_policies_equal_in_meaning_compare_equal() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:x"},
            {"Action": "kms:Decrypt", "Resource": ["arn:k"], "Condition": {"StringEquals": {"k": "v"}}},
        ],
    }
    b = (
        '{"Statement":[{"Resource":"arn:k","Effect":"Allow","Action":["kms:Decrypt"],'
        '"Condition":{"StringEquals":{"k":["v"]}}},{"Resource":["arn:x"],"Action":["s3:PutObject","s3:GetObject"],'
        '"Effect":"Allow"}],"Version":"2012-10-17"}'
    )
    assert normalize_policy(a) == normalize_policy(b)
    # IAM hands policies back URL-encoded
    assert normalize_policy(a) == normalize_policy(quote(b))


def test_a_policy_that_differs_in_meaning_is_a_change() -> None:
    want = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    have = {"Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}]}
    changes = diff(Fake(), {"name": "n", "policy": want}, {"name": "n", "policy": have})
    assert [c.field for c in changes] == ["policy"]


def test_unordered_lists_behaviour_fields_and_foreign_tags_are_no_change() -> None:
    desired = {"name": "n", "rules": ["a", "b"], "force_destroy": True, "policy": {}}
    observed = {"name": "n", "rules": ["b", "a"], "policy": {}, "tags": {"k": "v", "aws:cloudformation": "x", "o": "1"}}
    assert diff(Fake(), desired, observed, {"k": "v"}) == []


def test_a_removed_tag_and_a_renamed_field_are_reported_with_replacement_reason() -> None:
    changes = diff(Fake(), {"name": "new", "rules": []}, {"name": "old", "rules": [], "tags": {}}, {"k": "v"})
    by_field = {c.field: c for c in changes}
    assert by_field["name"].forces_replacement and by_field["name"].actual == "old"
    assert by_field["tags"].expected == {"k": "v"} and by_field["tags"].actual == {"k": None}


def test_grow_only_fields_accept_a_larger_actual_value() -> None:
    class Storage(Props):
        size: int = 20

    class Disk(Resource[Storage]):
        kind = "test.disk"
        service = "none"
        Props = Storage
        grow_only: ClassVar = frozenset({"size"})

    assert diff(Disk(), {"size": 20}, {"size": 35}) == []  # autoscaled
    assert [c.field for c in diff(Disk(), {"size": 20}, {"size": 10})] == ["size"]
