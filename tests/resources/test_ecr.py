"""ecr.repository on moto: created, read back equal to the desired, found by name, every managed field drifted out
of band and repaired (the encryption ones force replacement), a lifecycle policy compared by meaning, a
repository with images refused unless force_delete, deleted twice, and ids from ARNs with slashes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from resources.base import TAG_ADDRESS, resource_type
from resources.ecr import RepositoryNotEmpty
from tests.resources.drift import assert_same, changed_fields_forcing

MakeCtx = Callable[..., Any]

KEEP_LAST_20 = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "expire untagged images after a day",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "keep the last 20 images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20},
            "action": {"type": "expire"},
        },
    ]
}


def _push(repo: str, tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": "sha256:" + "a" * 64,
        },
        "layers": [],
    }
    boto3.client("ecr").put_image(repositoryName=repo, imageManifest=json.dumps(manifest), imageTag=tag)


def test_repository(make_ctx: MakeCtx) -> None:
    kms = boto3.client("kms").create_key(Description="ecr")["KeyMetadata"]["Arn"]
    rt: Any = resource_type("ecr.repository")
    ctx = make_ctx("ecr.repository.batch")
    props = rt.parse_props(
        {"name": "mf/batch-image", "encryption": "KMS", "kms_key_arn": kms, "lifecycle_policy": KEEP_LAST_20}
    )
    assert props.image_tag_mutability == "IMMUTABLE" and props.scan_on_push is True
    id = rt.create(ctx, props)
    assert id == "mf/batch-image"

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    arn = "arn:aws:ecr:us-east-1:123456789012:repository/mf/batch-image"
    assert obs.attrs == {
        "id": id,
        "name": id,
        "arn": arn,
        "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mf/batch-image",
    }
    assert rt.id_from_arn(arn) == id  # the slash in the name stays
    assert rt.id_from_arn("arn:aws:ecr:us-east-1:123456789012:repository/plain") == "plain"
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "mf/other"})) is None
    assert rt.read_many(ctx, [id, "mf/gone"]).keys() == {id}
    with pytest.raises(ClientError) as dup:
        rt.create(ctx, props)
    assert rt.duplicate(dup.value)

    # out of band, one field at a time: reported alone, repaired
    ecr = boto3.client("ecr")
    drifts: list[tuple[str, Callable[[], Any]]] = [
        ("image_tag_mutability", lambda: ecr.put_image_tag_mutability(repositoryName=id, imageTagMutability="MUTABLE")),
        (
            "scan_on_push",
            lambda: ecr.put_image_scanning_configuration(
                repositoryName=id, imageScanningConfiguration={"scanOnPush": False}
            ),
        ),
        ("lifecycle_policy", lambda: ecr.delete_lifecycle_policy(repositoryName=id)),
        (
            "lifecycle_policy",
            lambda: ecr.put_lifecycle_policy(
                repositoryName=id, lifecyclePolicyText=json.dumps({"rules": KEEP_LAST_20["rules"][:1]})
            ),
        ),
        ("tags", lambda: ecr.untag_resource(resourceArn=arn, tagKeys=[TAG_ADDRESS])),
    ]
    for field, change in drifts:
        change()
        drifted = rt.read(ctx, id)
        assert changed_fields_forcing(rt, props, drifted, ctx) == {field: False}, field
        rt.update(ctx, id, props, drifted, {field})
        assert_same(rt, props, rt.read(ctx, id), ctx)

    # the same policy in another shape (rules in another order, keys in another order) is no drift
    reordered = {"rules": [dict(reversed(list(r.items()))) for r in reversed(KEEP_LAST_20["rules"])]}
    ecr.put_lifecycle_policy(repositoryName=id, lifecyclePolicyText=json.dumps(reordered, indent=2))
    assert_same(rt, props, rt.read(ctx, id), ctx)
    assert rt.parse_props({"name": id, "lifecycle_policy": json.dumps(reordered)}).lifecycle_policy == KEEP_LAST_20

    # config: no lifecycle policy, tags mutable: both in place
    looser = rt.parse_props({"name": id, "encryption": "KMS", "kms_key_arn": kms, "image_tag_mutability": "MUTABLE"})
    before = rt.read(ctx, id)
    assert changed_fields_forcing(rt, looser, before, ctx) == {"lifecycle_policy": False, "image_tag_mutability": False}
    rt.update(ctx, id, looser, before, {"lifecycle_policy", "image_tag_mutability"})
    assert_same(rt, looser, rt.read(ctx, id), ctx)
    with pytest.raises(ClientError):
        ecr.get_lifecycle_policy(repositoryName=id)
    rt.update(ctx, id, looser, rt.read(ctx, id), {"lifecycle_policy"})  # no policy to delete: still fine

    # the encryption cannot change after create: replacement
    assert rt.replace_on == {"name", "encryption", "kms_key_arn"}
    plain = rt.parse_props({"name": id, "image_tag_mutability": "MUTABLE"})
    assert changed_fields_forcing(rt, plain, rt.read(ctx, id), ctx) == {"encryption": True, "kms_key_arn": True}
    other_key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rekeyed = looser.model_copy(update={"kms_key_arn": other_key})
    assert changed_fields_forcing(rt, rekeyed, rt.read(ctx, id), ctx) == {"kms_key_arn": True}

    # with images in it, a delete is refused unless force_delete; force_delete itself is no drift
    _push(id, "v1")
    with pytest.raises(RepositoryNotEmpty, match="force_delete"):
        rt.delete(ctx, id, obs.attrs, looser)
    with pytest.raises(RepositoryNotEmpty):
        rt.delete(ctx, id, obs.attrs, None)  # props unknown: never forced
    assert rt.read(ctx, id) is not None
    forced = looser.model_copy(update={"force_delete": True})
    assert changed_fields_forcing(rt, forced, rt.read(ctx, id), ctx) == {}
    rt.delete(ctx, id, obs.attrs, forced)
    assert rt.read(ctx, id) is None and rt.find(ctx, forced) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, forced)
    assert rt.missing(gone.value)


def test_repository_defaults_and_empty_delete(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ecr.repository")
    ctx = make_ctx("ecr.repository.plain")
    props = rt.parse_props({"name": "mf-plain"})
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["encryption"] == "AES256" and obs.props["kms_key_arn"] is None
    assert obs.props["lifecycle_policy"] is None
    # an empty repository goes without force
    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None


def test_repository_props_validation() -> None:
    rt: Any = resource_type("ecr.repository")
    with pytest.raises(ValidationError, match="needs a key ARN"):
        rt.parse_props({"name": "a/b", "encryption": "KMS"})
    with pytest.raises(ValidationError, match="goes with encryption KMS"):
        rt.parse_props({"name": "a/b", "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/x"})
    with pytest.raises(ValidationError, match="lower-case"):
        rt.parse_props({"name": "Team/Image"})
    with pytest.raises(ValidationError):
        rt.parse_props({"name": "a", "image_tag_mutability": "SOMETIMES"})
    assert rt.behaviour_fields == {"force_delete"} and rt.stateful
