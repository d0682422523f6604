"""Amazon Cognito user pools: the sign-in in front of an ALB (``authenticate-cognito``) for the Metaflow UI or MLflow.

Calls (service ``cognito-idp``): CreateUserPool (tagged, ``UserPoolTags``), DescribeUserPool, ListUserPools,
UpdateUserPool, SetUserPoolMfaConfig, GetUserPoolMfaConfig, DeleteUserPool; CreateUserPoolClient,
DescribeUserPoolClient, ListUserPoolClients, UpdateUserPoolClient, DeleteUserPoolClient; CreateUserPoolDomain,
DescribeUserPoolDomain, DeleteUserPoolDomain.

UpdateUserPool and UpdateUserPoolClient set every setting they are not given back to its default. So each update
sends the current settings as DescribeUserPool(Client) reports them, with the managed ones replaced: what someone
set by hand and mfprov does not manage (an SES sender, a Lambda trigger, token lifetimes) survives an update.

Only user pools can be tagged; a client is found by its pool and name, a domain by its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from provisioner.core.retry import WaitFailed
from resources.base import Observed, Props, Resource, error_code, error_message, register
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: a pool or client made seconds ago may not yet be visible to the next call
_NOT_YET = ("ResourceNotFoundException",)


def _user_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (tags or {}).items() if not k.startswith("aws:")}


# --------------------------------------------------------------- user pool


class PasswordPolicy(BaseModel):
    """Passwords of the pool's users. The defaults are stricter than AWS's (8 characters)."""

    model_config = ConfigDict(extra="forbid")

    minimum_length: int = Field(default=14, ge=6, le=99)
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True
    #: how long the temporary password of an invitation works
    temporary_password_validity_days: int = Field(default=7, ge=0, le=365)

    def aws(self) -> dict[str, Any]:
        return {
            "MinimumLength": self.minimum_length,
            "RequireUppercase": self.require_uppercase,
            "RequireLowercase": self.require_lowercase,
            "RequireNumbers": self.require_numbers,
            "RequireSymbols": self.require_symbols,
            "TemporaryPasswordValidityDays": self.temporary_password_validity_days,
        }


def _password_policy(got: Mapping[str, Any]) -> dict[str, Any]:
    names = {
        "MinimumLength": "minimum_length",
        "RequireUppercase": "require_uppercase",
        "RequireLowercase": "require_lowercase",
        "RequireNumbers": "require_numbers",
        "RequireSymbols": "require_symbols",
        "TemporaryPasswordValidityDays": "temporary_password_validity_days",
    }
    return {field: got.get(key) for key, field in names.items()}


class UserPoolProps(Props):
    #: not unique in Cognito: the pool is found by its name and mfprov's tags
    name: str = Field(min_length=1, max_length=128)
    #: a platform's users are invited by an admin; nobody signs up on their own
    admin_create_user_only: bool = True
    password_policy: PasswordPolicy = PasswordPolicy()
    #: multi-factor sign-in with an authenticator app (TOTP): "OPTIONAL" lets each user turn it on, "ON" makes
    #: everyone set it up at first sign-in. (SMS MFA needs an SNS role and is not offered.)
    mfa: Literal["OFF", "OPTIONAL", "ON"] = "OPTIONAL"
    #: attributes Cognito verifies itself by sending a code; with email invitations, "email"
    auto_verified_attributes: list[Literal["email", "phone_number"]] = ["email"]
    #: users sign in with their email address instead of a separate user name; fixed when the pool is made
    username_attributes: list[Literal["email", "phone_number"]] = ["email"]
    #: ACTIVE: the pool cannot be deleted by anyone (console, CLI, another tool) until this is turned off. mfprov's
    #: own delete (``down``, or the pool removed from the blueprint) turns it off first: that delete is deliberate.
    deletion_protection: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"


#: the UpdateUserPool settings sent back as they are (so an update resets none of them)
_POOL_KEPT = (
    "LambdaConfig",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "UserAttributeUpdateSettings",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "UserPoolAddOns",
    "AccountRecoverySetting",
    "UserPoolTier",
)


@register
class UserPool(Resource[UserPoolProps]):
    """A user pool; its id is the pool id (``us-east-1_AbC123``). CreateUserPool (tagged), DescribeUserPool,
    GetUserPoolMfaConfig, ListUserPools (find by name, then our tags), UpdateUserPool, SetUserPoolMfaConfig
    (TOTP), DeleteUserPool (its deletion protection is turned off first)."""

    kind = "cognito.user_pool"
    service = "cognito-idp"
    Props = UserPoolProps
    replace_on: ClassVar = frozenset({"username_attributes"})
    unordered: ClassVar = frozenset({"auto_verified_attributes", "username_attributes"})
    # the users and their passwords live only here: `up` never replaces it on its own
    stateful = True

    def _describe(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        try:
            return dict(ctx.client("cognito-idp").describe_user_pool(UserPoolId=id)["UserPool"])
        except ClientError as err:
            if self.missing(err):
                return None
            raise

    def find(self, ctx: NodeContext, props: UserPoolProps) -> str | None:
        pages = ctx.client("cognito-idp").get_paginator("list_user_pools")
        for page in pages.paginate(PaginationConfig={"PageSize": 60}):
            for item in page["UserPools"]:
                if item.get("Name") != props.name:
                    continue
                pool = self._describe(ctx, item["Id"])
                if pool is not None and ctx.owns(_user_tags(pool.get("UserPoolTags"))):
                    return str(item["Id"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        pool = self._describe(ctx, id)
        if pool is None:
            return None
        try:
            mfa = ctx.client("cognito-idp").get_user_pool_mfa_config(UserPoolId=id).get("MfaConfiguration", "OFF")
        except ClientError as err:
            if self.missing(err):  # deleted between the two calls
                return None
            raise
        props = {
            "name": pool.get("Name"),
            "admin_create_user_only": bool((pool.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")),
            "password_policy": _password_policy((pool.get("Policies") or {}).get("PasswordPolicy") or {}),
            "mfa": mfa,
            "auto_verified_attributes": sorted(pool.get("AutoVerifiedAttributes") or []),
            "username_attributes": sorted(pool.get("UsernameAttributes") or []),
            "deletion_protection": pool.get("DeletionProtection", "INACTIVE"),
            "tags": _user_tags(pool.get("UserPoolTags")),
        }
        # the issuer of the pool's tokens: what a JWT authorizer or an OIDC client is given
        endpoint = f"cognito-idp.{ctx.facts.region}.{ctx.facts.dns_suffix}/{id}"
        attrs = {
            "id": id,
            "arn": pool.get("Arn") or ctx.facts.arn("cognito-idp", f"userpool/{id}"),
            "name": pool.get("Name"),
            "endpoint": endpoint,
            "provider_name": endpoint,
            "provider_url": f"https://{endpoint}",
        }
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: UserPoolProps) -> str:
        kw: dict[str, Any] = {}
        if props.username_attributes:
            kw["UsernameAttributes"] = props.username_attributes
        # MFA is turned on afterwards with SetUserPoolMfaConfig: CreateUserPool accepts MFA only with SMS set up.
        id = ctx.client("cognito-idp").create_user_pool(
            PoolName=props.name,
            Policies={"PasswordPolicy": props.password_policy.aws()},
            DeletionProtection=props.deletion_protection,
            AutoVerifiedAttributes=props.auto_verified_attributes,
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": props.admin_create_user_only},
            # only the email channel recovers an account (AWS's legacy default prefers SMS, which is not set up)
            AccountRecoverySetting={"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
            UserPoolTags=dict(ctx.tags),
            **kw,
        )["UserPool"]["Id"]
        ctx.created(id)
        if props.mfa != "OFF":
            self._set_mfa(ctx, id, props.mfa)
        return str(id)

    @staticmethod
    def _set_mfa(ctx: NodeContext, id: str, mfa: str) -> None:
        kw: dict[str, Any] = {} if mfa == "OFF" else {"SoftwareTokenMfaConfiguration": {"Enabled": True}}
        ctx.call(
            ctx.client("cognito-idp").set_user_pool_mfa_config,
            retry_on=_NOT_YET,  # a pool made just now
            UserPoolId=id,
            MfaConfiguration=mfa,
            **kw,
        )

    @staticmethod
    def _update_kw(pool: Mapping[str, Any], mfa: str, **managed: Any) -> dict[str, Any]:
        """UpdateUserPool's parameters: the pool's current settings, with ``managed`` ones replaced."""
        kw: dict[str, Any] = {k: pool[k] for k in _POOL_KEPT if pool.get(k) is not None}
        kw["PoolName"] = pool.get("Name")
        kw["Policies"] = dict(pool.get("Policies") or {})
        # UnusedAccountValidityDays is the deprecated twin of the password policy's TemporaryPasswordValidityDays:
        # AWS refuses the two together
        admin = {k: v for k, v in (pool.get("AdminCreateUserConfig") or {}).items() if k != "UnusedAccountValidityDays"}
        kw["AdminCreateUserConfig"] = admin
        kw["AutoVerifiedAttributes"] = list(pool.get("AutoVerifiedAttributes") or [])
        kw["DeletionProtection"] = pool.get("DeletionProtection", "INACTIVE")
        kw["UserPoolTags"] = _user_tags(pool.get("UserPoolTags"))
        # Left out, MFA would be reset to OFF; it is set (TOTP on) with SetUserPoolMfaConfig before this call.
        kw["MfaConfiguration"] = mfa
        for key, value in managed.items():
            if isinstance(value, dict) and isinstance(kw.get(key), dict):
                kw[key] = {**kw[key], **value}  # a password policy keeps its history size, an invite its text
            else:
                kw[key] = value
        return kw

    def update(self, ctx: NodeContext, id: str, props: UserPoolProps, observed: Observed, changes: set[str]) -> None:
        if "mfa" in changes:
            self._set_mfa(ctx, id, props.mfa)
        if not changes - {"mfa"}:
            return
        pool = self._describe(ctx, id)
        if pool is None:
            raise RuntimeError(f"user pool {id} is gone")
        policies = dict(pool.get("Policies") or {})
        policies["PasswordPolicy"] = {**(policies.get("PasswordPolicy") or {}), **props.password_policy.aws()}
        ctx.client("cognito-idp").update_user_pool(
            UserPoolId=id,
            **self._update_kw(
                pool,
                props.mfa,
                PoolName=props.name,
                Policies=policies,
                AdminCreateUserConfig={"AllowAdminCreateUserOnly": props.admin_create_user_only},
                AutoVerifiedAttributes=props.auto_verified_attributes,
                DeletionProtection=props.deletion_protection,
                # other keys stay (a merge: whether UpdateUserPool replaces or adds tags, none is lost)
                UserPoolTags={**_user_tags(pool.get("UserPoolTags")), **ctx.tags},
            ),
        )

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: UserPoolProps | None) -> None:
        cognito = ctx.client("cognito-idp")
        pool = self._describe(ctx, id)
        if pool is not None and pool.get("DeletionProtection") == "ACTIVE":
            # The protection stops deletes from elsewhere; this one is deliberate (`down`, or the pool taken out
            # of the blueprint). Everything else is sent back as it is, should the delete below fail.
            mfa = cognito.get_user_pool_mfa_config(UserPoolId=id).get("MfaConfiguration", "OFF")
            cognito.update_user_pool(UserPoolId=id, **self._update_kw(pool, mfa, DeletionProtection="INACTIVE"))
        cognito.delete_user_pool(UserPoolId=id)
        ctx.wait("user pool deleted", lambda: self._describe(ctx, id) is None)

    def monthly_cost(self, props: UserPoolProps, where: Where) -> list[CostLine]:
        return [usage_based("monthly active users")]


# -------------------------------------------------------- user pool client


class UserPoolClientProps(Props):
    user_pool_id: str
    #: not unique in a pool; the client is found by its pool and this name
    name: str = Field(min_length=1, max_length=128)
    #: an ALB's client needs a secret; it can only be chosen when the client is made
    generate_secret: bool = True
    #: for an ALB: ``https://<host>/oauth2/idpresponse``
    callback_urls: list[str] = []
    logout_urls: list[str] = []
    allowed_oauth_flows: list[Literal["code", "implicit", "client_credentials"]] = ["code"]
    allowed_oauth_scopes: list[str] = ["openid", "email", "profile"]
    allowed_oauth_flows_user_pool_client: bool = True
    supported_identity_providers: list[str] = ["COGNITO"]
    #: the hosted UI needs none of the API sign-in flows; refreshing tokens only
    explicit_auth_flows: list[str] = ["ALLOW_REFRESH_TOKEN_AUTH"]
    #: ENABLED: a failed sign-in does not tell whether the user exists
    prevent_user_existence_errors: Literal["ENABLED", "LEGACY"] = "ENABLED"


#: the UpdateUserPoolClient settings sent back as they are (so an update resets none of them)
_CLIENT_KEPT = (
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "AnalyticsConfiguration",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
    "RefreshTokenRotation",
)


def _client_id(id: str) -> tuple[str, str]:
    pool, _, client = id.partition("|")
    return pool, client


@register
class UserPoolClient(Resource[UserPoolClientProps]):
    """An app client of a user pool; its id is ``<pool id>|<client id>``. CreateUserPoolClient,
    DescribeUserPoolClient, ListUserPoolClients (find by pool and name), UpdateUserPoolClient,
    DeleteUserPoolClient.

    Its secret is never read into props, attrs, state or a log: an ALB reads it from Cognito itself. Whether the
    client has one is all that is read back (``generate_secret``)."""

    kind = "cognito.user_pool_client"
    service = "cognito-idp"
    Props = UserPoolClientProps
    taggable = False  # app clients take no tags
    replace_on: ClassVar = frozenset({"user_pool_id", "generate_secret"})
    unordered: ClassVar = frozenset(
        {
            "callback_urls",
            "logout_urls",
            "allowed_oauth_flows",
            "allowed_oauth_scopes",
            "supported_identity_providers",
            "explicit_auth_flows",
        }
    )

    def _describe(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        """The client's settings without its secret (dropped before anything keeps the answer)."""
        pool, client = _client_id(id)
        try:
            return _without_secret(
                ctx.client("cognito-idp").describe_user_pool_client(UserPoolId=pool, ClientId=client)["UserPoolClient"]
            )
        except ClientError as err:
            if self.missing(err):
                return None
            raise

    def find(self, ctx: NodeContext, props: UserPoolClientProps) -> str | None:
        pages = ctx.client("cognito-idp").get_paginator("list_user_pool_clients")
        try:
            for page in pages.paginate(UserPoolId=props.user_pool_id):
                for item in page["UserPoolClients"]:
                    if item.get("ClientName") == props.name:
                        return f"{props.user_pool_id}|{item['ClientId']}"
        except ClientError as err:
            if not self.missing(err):
                raise
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        c = self._describe(ctx, id)
        if c is None:
            return None
        props = {
            "user_pool_id": c.get("UserPoolId"),
            "name": c.get("ClientName"),
            "generate_secret": bool(c.get("HasSecret")),
            "callback_urls": sorted(c.get("CallbackURLs") or []),
            "logout_urls": sorted(c.get("LogoutURLs") or []),
            "allowed_oauth_flows": sorted(c.get("AllowedOAuthFlows") or []),
            "allowed_oauth_scopes": sorted(c.get("AllowedOAuthScopes") or []),
            "allowed_oauth_flows_user_pool_client": bool(c.get("AllowedOAuthFlowsUserPoolClient")),
            "supported_identity_providers": sorted(c.get("SupportedIdentityProviders") or []),
            "explicit_auth_flows": sorted(c.get("ExplicitAuthFlows") or []),
            "prevent_user_existence_errors": c.get("PreventUserExistenceErrors", "LEGACY"),
        }
        attrs = {
            "id": id,
            "client_id": c.get("ClientId"),
            "user_pool_id": c.get("UserPoolId"),
            "name": c.get("ClientName"),
        }
        return Observed(id=id, props=props, attrs=attrs)

    @staticmethod
    def _settings(props: UserPoolClientProps) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "ClientName": props.name,
            "AllowedOAuthFlows": props.allowed_oauth_flows,
            "AllowedOAuthScopes": props.allowed_oauth_scopes,
            "AllowedOAuthFlowsUserPoolClient": props.allowed_oauth_flows_user_pool_client,
            "SupportedIdentityProviders": props.supported_identity_providers,
            "ExplicitAuthFlows": props.explicit_auth_flows,
            "PreventUserExistenceErrors": props.prevent_user_existence_errors,
            # empty lists are sent too: "none" is meant, not "leave as is"
            "CallbackURLs": props.callback_urls,
            "LogoutURLs": props.logout_urls,
        }
        return kw

    def create(self, ctx: NodeContext, props: UserPoolClientProps) -> str:
        # The answer holds the secret: only the client id is taken from it.
        client = ctx.call(
            ctx.client("cognito-idp").create_user_pool_client,
            retry_on=_NOT_YET,  # a pool made just now
            UserPoolId=props.user_pool_id,
            GenerateSecret=props.generate_secret,
            **self._settings(props),
        )["UserPoolClient"]["ClientId"]
        id = f"{props.user_pool_id}|{client}"
        ctx.created(id)
        return id

    def update(
        self, ctx: NodeContext, id: str, props: UserPoolClientProps, observed: Observed, changes: set[str]
    ) -> None:
        current = self._describe(ctx, id)
        if current is None:
            raise RuntimeError(f"user pool client {id} is gone")
        kw: dict[str, Any] = {k: current[k] for k in _CLIENT_KEPT if current.get(k) is not None}
        # a default redirect must be one of the callback URLs: kept only while it still is
        if current.get("DefaultRedirectURI") in props.callback_urls:
            kw["DefaultRedirectURI"] = current["DefaultRedirectURI"]
        pool, client = _client_id(id)
        ctx.client("cognito-idp").update_user_pool_client(
            UserPoolId=pool, ClientId=client, **kw, **self._settings(props)
        )

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: UserPoolClientProps | None) -> None:
        pool, client = _client_id(id)
        ctx.client("cognito-idp").delete_user_pool_client(UserPoolId=pool, ClientId=client)


def _without_secret(client: Mapping[str, Any]) -> dict[str, Any]:
    """A DescribeUserPoolClient answer with ``ClientSecret`` replaced by whether there is one."""
    out = {k: v for k, v in client.items() if k != "ClientSecret"}
    out["HasSecret"] = bool(client.get("ClientSecret"))
    return out


# -------------------------------------------------------- user pool domain


class UserPoolDomainProps(Props):
    #: the prefix of ``<domain>.auth.<region>.amazoncognito.com`` (the hosted sign-in pages); unique per region
    domain: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?$")
    user_pool_id: str


#: DeleteUserPoolDomain of a domain that no longer exists: Cognito answers InvalidParameterException
_DOMAIN_GONE = ("no such domain", "does not exist")


@register
class UserPoolDomain(Resource[UserPoolDomainProps]):
    """The hosted sign-in domain of a pool (a prefix under amazoncognito.com); its id is the domain.
    CreateUserPoolDomain, DescribeUserPoolDomain (waits for ACTIVE), DeleteUserPoolDomain (waits until gone).
    Nothing about it can change in place."""

    kind = "cognito.user_pool_domain"
    service = "cognito-idp"
    Props = UserPoolDomainProps
    taggable = False  # domains take no tags
    replace_on: ClassVar = frozenset({"domain", "user_pool_id"})
    timeout = 900.0

    def _describe(self, ctx: NodeContext, domain: str) -> dict[str, Any] | None:
        """The domain's description; None when there is none (Cognito answers an empty one)."""
        try:
            got = ctx.client("cognito-idp").describe_user_pool_domain(Domain=domain).get("DomainDescription") or {}
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return dict(got) if got.get("Domain") else None

    def find(self, ctx: NodeContext, props: UserPoolDomainProps) -> str | None:
        got = self._describe(ctx, props.domain)
        # a domain of another pool is not this node's: the create that follows fails with Cognito's message
        return props.domain if got is not None and got.get("UserPoolId") == props.user_pool_id else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        got = self._describe(ctx, id)
        if got is None:
            return None
        props = {"domain": got["Domain"], "user_pool_id": got.get("UserPoolId")}
        attrs = {
            "id": id,
            "domain": got["Domain"],
            "user_pool_id": got.get("UserPoolId"),
            "cloudfront_distribution": got.get("CloudFrontDistribution"),
            "url": f"https://{got['Domain']}.auth.{ctx.facts.region}.amazoncognito.com",
        }
        return Observed(id=id, props=props, attrs=attrs)

    def _active(self, ctx: NodeContext, domain: str) -> bool | str:
        got = self._describe(ctx, domain)
        status = (got or {}).get("Status") or "not visible yet"
        if status == "FAILED":
            raise WaitFailed(f"user pool domain {domain} failed")
        return True if status == "ACTIVE" else str(status)

    def create(self, ctx: NodeContext, props: UserPoolDomainProps) -> str:
        ctx.call(
            ctx.client("cognito-idp").create_user_pool_domain,
            retry_on=_NOT_YET,  # a pool made just now
            Domain=props.domain,
            UserPoolId=props.user_pool_id,
        )
        ctx.created(props.domain)
        ctx.wait("user pool domain active", lambda: self._active(ctx, props.domain))
        return props.domain

    def update(
        self, ctx: NodeContext, id: str, props: UserPoolDomainProps, observed: Observed, changes: set[str]
    ) -> None:
        return None  # both fields force replacement

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: UserPoolDomainProps | None) -> None:
        got = self._describe(ctx, id)
        if got is None:
            return  # already gone
        pool = str(got.get("UserPoolId") or attrs.get("user_pool_id") or (props.user_pool_id if props else ""))
        try:
            ctx.client("cognito-idp").delete_user_pool_domain(Domain=id, UserPoolId=pool)
        except ClientError as err:
            gone = error_code(err) == "InvalidParameterException" and any(
                t in error_message(err).lower() for t in _DOMAIN_GONE
            )
            if not (gone or self.missing(err)):
                raise
        ctx.wait("user pool domain deleted", lambda: True if self._describe(ctx, id) is None else "deleting")
