"""The Cognito types on moto: a user pool, its app client and its hosted-UI domain, each created, read back equal,
found again, drifted out of band field by field and repaired, deleted; and the three wired into an ALB's
authenticate-cognito actions, as the Metaflow UI and MLflow stacks use them.

moto gaps, each stood in for below (test-only, marked "stand-in"): UpdateUserPool does not rename a pool and drops
the settings fixed at creation (UsernameAttributes); DeleteUserPool ignores deletion protection.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from provisioner.engine.compare import diff
from resources.base import TAG_ADDRESS, TAG_STACK, resource_type
from tests.resources.drift import assert_same, changed_fields, vpc_with_subnets

MakeCtx = Callable[..., Any]


def _sent(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` call made through ``client`` from now on."""
    seen: list[dict[str, Any]] = []

    def grab(params: dict[str, Any], **_: Any) -> None:
        seen.append(copy.deepcopy(params))

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"provide-client-params.{service}.{operation}", grab)
    return seen


@pytest.fixture(autouse=True)
def _cognito_as_on_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stand-ins for moto gaps, so the tests see what AWS does:

    - UpdateUserPool renames the pool (``PoolName``) and keeps what is fixed at creation (``UsernameAttributes``,
      ``AliasAttributes``, ``UsernameConfiguration``); moto resets these like the settings UpdateUserPool takes.
    - DeleteUserPool refuses a pool whose deletion protection is ACTIVE; moto deletes it.
    """
    import moto.cognitoidp.models as models
    from moto.cognitoidp.exceptions import InvalidParameterException

    fixed = ("UsernameAttributes", "AliasAttributes", "UsernameConfiguration")
    real_update, real_delete = models.CognitoIdpBackend.update_user_pool, models.CognitoIdpBackend.delete_user_pool

    def update(self: Any, user_pool_id: str, extended_config: dict[str, Any]) -> None:
        pool = self.describe_user_pool(user_pool_id)
        kept = {k: pool.extended_config[k] for k in fixed if k in pool.extended_config}
        real_update(self, user_pool_id, extended_config)
        pool.extended_config.update(kept)
        pool.name = extended_config.get("PoolName") or pool.name

    def delete(self: Any, user_pool_id: str) -> None:
        if self.describe_user_pool(user_pool_id).extended_config.get("DeletionProtection") == "ACTIVE":
            raise InvalidParameterException(
                "The user pool cannot be deleted because deletion protection is activated. "
                "Deletion protection must be inactivated first."
            )
        real_delete(self, user_pool_id)

    monkeypatch.setattr(models.CognitoIdpBackend, "update_user_pool", update)
    monkeypatch.setattr(models.CognitoIdpBackend, "delete_user_pool", delete)
    yield


def _oob_update(pool_id: str, **change: Any) -> None:
    """An out-of-band UpdateUserPool that changes only ``change`` (UpdateUserPool resets what it is not given)."""
    cognito = boto3.client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    keys = ("Policies", "AdminCreateUserConfig", "AutoVerifiedAttributes", "DeletionProtection", "UserPoolTags")
    kw = {k: pool[k] for k in keys if k in pool}
    cognito.update_user_pool(UserPoolId=pool_id, **(kw | change))


# ------------------------------------------------------------------------------------------ user pool


def test_user_pool(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("cognito.user_pool")
    ctx = make_ctx("cognito.user_pool.ui")
    props = rt.parse_props({"name": "mf-ui-users"})
    # the defaults: invited users only, 14 characters of all four kinds, TOTP optional, email sign-in, protected
    assert props.admin_create_user_only and props.password_policy.minimum_length == 14
    assert props.mfa == "OPTIONAL" and props.deletion_protection == "ACTIVE"
    assert props.auto_verified_attributes == props.username_attributes == ["email"]
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx, others_tags=True)
    mfa = boto3.client("cognito-idp").get_user_pool_mfa_config(UserPoolId=id)
    assert mfa["MfaConfiguration"] == "OPTIONAL" and mfa["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    endpoint = f"cognito-idp.us-east-1.amazonaws.com/{id}"
    assert obs.attrs == {
        "id": id,
        "arn": f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{id}",
        "name": "mf-ui-users",
        "endpoint": endpoint,
        "provider_name": endpoint,
        "provider_url": f"https://{endpoint}",
    }
    assert rt.id_from_arn(obs.attrs["arn"]) == id
    assert rt.find(ctx, props) == id
    # Names are not unique: a pool of the same name that is not this node's is never found
    cognito = boto3.client("cognito-idp")
    theirs = cognito.create_user_pool(
        PoolName="mf-ui-users", UserPoolTags={TAG_STACK: "other", TAG_ADDRESS: "cognito.user_pool.ui"}
    )["UserPool"]["Id"]
    untagged = cognito.create_user_pool(PoolName="mf-ui-users")["UserPool"]["Id"]
    assert rt.find(ctx, props) == id
    assert rt.find(make_ctx("cognito.user_pool.ui", stack="other"), props) == theirs
    assert rt.find(ctx, rt.parse_props({"name": "another"})) is None

    # out of band, one field at a time: it shows as exactly that field, and update repairs it
    def drift(change: Callable[[], Any], field: str) -> None:
        change()
        drifted = rt.read(ctx, id)
        assert changed_fields(rt, props, drifted, ctx) == {field}
        rt.update(ctx, id, props, drifted, {field})
        assert_same(rt, props, rt.read(ctx, id), ctx, others_tags=True)

    drift(lambda: cognito.set_user_pool_mfa_config(UserPoolId=id, MfaConfiguration="OFF"), "mfa")
    drift(lambda: _oob_update(id, PoolName="renamed"), "name")
    drift(lambda: _oob_update(id, AdminCreateUserConfig={"AllowAdminCreateUserOnly": False}), "admin_create_user_only")
    weak = {"PasswordPolicy": {"MinimumLength": 8, "RequireSymbols": False, "TemporaryPasswordValidityDays": 30}}
    drift(lambda: _oob_update(id, Policies=weak), "password_policy")
    drift(lambda: _oob_update(id, AutoVerifiedAttributes=[]), "auto_verified_attributes")
    drift(lambda: _oob_update(id, DeletionProtection="INACTIVE"), "deletion_protection")
    drift(lambda: _oob_update(id, UserPoolTags={"owner": "someone"}), "tags")
    assert cognito.describe_user_pool(UserPoolId=id)["UserPool"]["UserPoolTags"]["owner"] == "someone"  # kept

    # what mfprov does not manage survives its updates (UpdateUserPool would reset it): an invitation's text
    invite = {"EmailSubject": "Your Metaflow UI account", "EmailMessage": "User {username}, password {####}"}
    _oob_update(id, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True, "InviteMessageTemplate": invite})
    drift(lambda: _oob_update(id, DeletionProtection="INACTIVE"), "deletion_protection")
    kept = cognito.describe_user_pool(UserPoolId=id)["UserPool"]["AdminCreateUserConfig"]
    assert kept["InviteMessageTemplate"] == invite

    # MFA required: set with TOTP; and fixed-at-creation sign-in attributes force a new pool
    on = rt.parse_props({"name": "mf-ui-users", "mfa": "ON"})
    rt.update(ctx, id, on, rt.read(ctx, id), {"mfa"})
    assert_same(rt, on, rt.read(ctx, id), ctx, others_tags=True)
    changes = diff(
        rt, rt.parse_props({"name": "mf-ui-users", "username_attributes": []}).model_dump(mode="json"), obs.props
    )
    assert [(c.field, c.forces_replacement) for c in changes] == [("username_attributes", True)]
    assert rt.stateful  # `up` refuses to replace it on its own: the users live here

    # Deletion protection is ACTIVE: AWS (and the stand-in) refuse a plain delete; mfprov's delete lifts it first
    with pytest.raises(ClientError, match="deletion protection"):
        cognito.delete_user_pool(UserPoolId=id)
    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)
    assert rt.find(ctx, props) is None  # the others of the same name are still there, and not ours
    for other in (theirs, untagged):
        cognito.delete_user_pool(UserPoolId=other)


def test_user_pool_checks() -> None:
    rt: Any = resource_type("cognito.user_pool")
    for raw, message in [
        ({"name": "x", "mfa": "SMS"}, "'OFF', 'OPTIONAL' or 'ON'"),
        ({"name": "x", "password_policy": {"minimum_length": 5}}, "greater than or equal to 6"),
        ({"name": "x", "deletion_protection": "OFF"}, "'ACTIVE' or 'INACTIVE'"),
        ({"name": ""}, "at least 1 character"),
    ]:
        with pytest.raises(ValidationError, match=message):
            rt.parse_props(raw)
    assert rt.parse_props({"name": "x", "mfa": "OFF"}).mfa == "OFF"


# ------------------------------------------------------------------------------------ user pool client


def _pool(make_ctx: MakeCtx, name: str = "mf-ui-users") -> tuple[str, dict[str, Any]]:
    rt: Any = resource_type("cognito.user_pool")
    ctx = make_ctx(f"cognito.user_pool.{name}")
    props = rt.parse_props({"name": name, "deletion_protection": "INACTIVE"})
    id = rt.create(ctx, props)
    return id, rt.read(ctx, id).attrs


CALLBACK = "https://ui.example.com/oauth2/idpresponse"


def test_user_pool_client(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("cognito.user_pool_client")
    pool, _ = _pool(make_ctx)
    ctx = make_ctx("cognito.user_pool_client.ui")
    spec = {"user_pool_id": pool, "name": "mf-ui-alb", "callback_urls": [CALLBACK]}
    props = rt.parse_props(spec)
    id = rt.create(ctx, props)
    client_id = id.split("|")[1]
    assert id == f"{pool}|{client_id}"

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert not rt.taggable and "tags" not in obs.props
    assert obs.attrs == {"id": id, "client_id": client_id, "user_pool_id": pool, "name": "mf-ui-alb"}
    # the client has a secret; it is nowhere in what mfprov reads
    cognito = boto3.client("cognito-idp")
    secret = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=client_id)["UserPoolClient"]["ClientSecret"]
    assert secret and secret not in repr(obs) and obs.props["generate_secret"] is True
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props(spec | {"name": "other"})) is None
    assert rt.find(ctx, rt.parse_props(spec | {"user_pool_id": "us-east-1_Nothing"})) is None

    # out of band, one field at a time (moto's UpdateUserPoolClient changes just what it is given)
    def drift(field: str, **change: Any) -> None:
        cognito.update_user_pool_client(UserPoolId=pool, ClientId=client_id, **change)
        drifted = rt.read(ctx, id)
        assert changed_fields(rt, props, drifted, ctx) == {field}
        rt.update(ctx, id, props, drifted, {field})
        assert_same(rt, props, rt.read(ctx, id), ctx)

    drift("name", ClientName="renamed")
    drift("callback_urls", CallbackURLs=[CALLBACK, "https://evil.example.com/oauth2/idpresponse"])
    drift("logout_urls", LogoutURLs=["https://ui.example.com/"])
    drift("allowed_oauth_flows", AllowedOAuthFlows=["code", "implicit"])
    drift("allowed_oauth_scopes", AllowedOAuthScopes=["openid"])
    drift("allowed_oauth_flows_user_pool_client", AllowedOAuthFlowsUserPoolClient=False)
    drift("supported_identity_providers", SupportedIdentityProviders=["COGNITO", "Google"])
    drift("explicit_auth_flows", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    drift("prevent_user_existence_errors", PreventUserExistenceErrors="LEGACY")

    # UpdateUserPoolClient resets what it is not given on AWS: a token lifetime set by hand is sent back
    cognito.update_user_pool_client(UserPoolId=pool, ClientId=client_id, AccessTokenValidity=5)
    updates = _sent(ctx.client("cognito-idp"), "UpdateUserPoolClient")
    logout = rt.parse_props(spec | {"logout_urls": ["https://ui.example.com/signed-out"]})
    assert changed_fields(rt, logout, rt.read(ctx, id), ctx) == {"logout_urls"}
    rt.update(ctx, id, logout, rt.read(ctx, id), {"logout_urls"})
    assert_same(rt, logout, rt.read(ctx, id), ctx)
    assert updates[-1]["AccessTokenValidity"] == 5 and "ClientSecret" not in updates[-1]

    # the pool and whether there is a secret can only be chosen when the client is made
    for change in ({"generate_secret": False}, {"user_pool_id": "us-east-1_Other"}):
        got = diff(rt, rt.parse_props(spec | change).model_dump(mode="json"), obs.props)
        assert [(c.field, c.forces_replacement) for c in got] == [(next(iter(change)), True)]

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)


# ------------------------------------------------------------------------------------ user pool domain


def test_user_pool_domain(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("cognito.user_pool_domain")
    pool, _ = _pool(make_ctx)
    other_pool, _ = _pool(make_ctx, "other-users")
    ctx = make_ctx("cognito.user_pool_domain.ui")
    props = rt.parse_props({"domain": "mf-ui-abc12345", "user_pool_id": pool})
    id = rt.create(ctx, props)
    assert id == "mf-ui-abc12345"
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert not rt.taggable
    assert obs.attrs["domain"] == "mf-ui-abc12345" and obs.attrs["user_pool_id"] == pool
    assert obs.attrs["cloudfront_distribution"]
    assert obs.attrs["url"] == "https://mf-ui-abc12345.auth.us-east-1.amazoncognito.com"
    assert rt.find(ctx, props) == id
    # the same domain on another pool is not this node
    assert rt.find(ctx, rt.parse_props({"domain": "mf-ui-abc12345", "user_pool_id": other_pool})) is None
    assert rt.find(ctx, rt.parse_props({"domain": "nothing-here", "user_pool_id": pool})) is None
    for change in ({"domain": "mf-ui-other"}, {"user_pool_id": other_pool}):
        got = diff(rt, rt.parse_props(props.model_dump() | change).model_dump(mode="json"), obs.props)
        assert [(c.field, c.forces_replacement) for c in got] == [(next(iter(change)), True)]
    with pytest.raises(ValidationError, match="pattern"):
        rt.parse_props({"domain": "Has_Upper", "user_pool_id": pool})

    # deleted out of band: read says so (and a create makes it again)
    boto3.client("cognito-idp").delete_user_pool_domain(Domain=id, UserPoolId=pool)
    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    assert rt.create(ctx, props) == id

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    rt.delete(ctx, id, obs.attrs, props)  # already gone: done (DescribeUserPoolDomain says so first)


# --------------------------------------------------------------------------- the ALB sign-in, end to end


def test_alb_signs_in_through_the_pool(make_ctx: MakeCtx) -> None:
    """The pool, client and domain attrs are what an HTTPS listener's and a rule's authenticate-cognito need."""
    pool, pool_attrs = _pool(make_ctx)
    client_rt: Any = resource_type("cognito.user_pool_client")
    domain_rt: Any = resource_type("cognito.user_pool_domain")
    client_ctx = make_ctx("cognito.user_pool_client.ui")
    client = client_rt.create(
        client_ctx, client_rt.parse_props({"user_pool_id": pool, "name": "ui", "callback_urls": [CALLBACK]})
    )
    client_attrs = client_rt.read(client_ctx, client).attrs
    domain_ctx = make_ctx("cognito.user_pool_domain.ui")
    domain = domain_rt.create(domain_ctx, domain_rt.parse_props({"domain": "mf-ui-abc", "user_pool_id": pool}))
    domain_attrs = domain_rt.read(domain_ctx, domain).attrs

    vpc, subnets = vpc_with_subnets()
    lb_rt: Any = resource_type("elbv2.load_balancer")
    tg_rt: Any = resource_type("elbv2.target_group")
    listener_rt: Any = resource_type("elbv2.listener")
    rule_rt: Any = resource_type("elbv2.listener_rule")
    lb = lb_rt.create(
        make_ctx("elbv2.load_balancer.ui"),
        lb_rt.parse_props({"name": "ui", "type": "application", "scheme": "internet-facing", "subnets": subnets}),
    )
    static, backend = (
        tg_rt.create(
            make_ctx(f"elbv2.target_group.{n}"),
            tg_rt.parse_props({"name": n, "protocol": "HTTP", "port": p, "vpc_id": vpc, "health_check_path": path}),
        )
        for n, p, path in (("static", 3000, "/"), ("backend", 8083, "/api/ping"))
    )
    cert = boto3.client("acm").request_certificate(DomainName="ui.example.com", ValidationMethod="DNS")
    sign_in = {
        "type": "authenticate-cognito",
        "user_pool_arn": pool_attrs["arn"],
        "user_pool_client_id": client_attrs["client_id"],
        "user_pool_domain": domain_attrs["domain"],
    }
    listener_ctx = make_ctx("elbv2.listener.ui")
    listener_props = listener_rt.parse_props(
        {
            "load_balancer_arn": lb,
            "port": 443,
            "protocol": "HTTPS",
            "certificate_arn": cert["CertificateArn"],
            "default_actions": [sign_in, {"type": "forward", "target_group_arn": static}],
        }
    )
    listener = listener_rt.create(listener_ctx, listener_props)
    assert changed_fields(listener_rt, listener_props, listener_rt.read(listener_ctx, listener), listener_ctx) == set()
    rule_ctx = make_ctx("elbv2.listener_rule.ui_backend")
    rule_props = rule_rt.parse_props(
        {
            "listener_arn": listener,
            "priority": 1,
            "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
            "actions": [sign_in, {"type": "forward", "target_group_arn": backend}],
        }
    )
    rule = rule_rt.create(rule_ctx, rule_props)
    assert changed_fields(rule_rt, rule_props, rule_rt.read(rule_ctx, rule), rule_ctx) == set()
    sent = boto3.client("elbv2").describe_rules(RuleArns=[rule])["Rules"][0]["Actions"][0]["AuthenticateCognitoConfig"]
    assert json.dumps(sent, sort_keys=True) == json.dumps(
        {
            "OnUnauthenticatedRequest": "authenticate",
            "Scope": "openid",
            "SessionCookieName": "AWSELBAuthSessionCookie",
            "SessionTimeout": 604800,
            "UserPoolArn": pool_attrs["arn"],
            "UserPoolClientId": client_attrs["client_id"],
            "UserPoolDomain": "mf-ui-abc",
        },
        sort_keys=True,
    )
