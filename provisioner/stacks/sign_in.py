"""Sign-in on an application load balancer, and the load balancer's Route 53 name: what the Metaflow UI and the
MLflow server share.

- :func:`actions`: the ``authenticate-cognito`` or ``authenticate-oidc`` action a listener or rule puts before
  forwarding (none without sign-in); for Cognito also the user pool (admin-created users only), its hosted-UI
  domain and the load balancer's app client. An OIDC client secret stays a reference (``client_secret_arn``):
  the listener reads it from Secrets Manager when it writes the action, and the state never holds it.
- :func:`alias_record`: an alias A record to the load balancer in the user's hosted zone. Records take no
  tags: one of the same name that is not this stack's (the user's own) is refused by the engine, never
  repointed, and ``down`` deletes only the record this stack made.

AWS: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html (the
callback ``https://<DNS name>/oauth2/idpresponse``, the IdP's endpoints reached over HTTPS from the load
balancer) and https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-to-elb-load-balancer.html.
"""

from __future__ import annotations

from typing import Any

from provisioner.engine.graph import Blueprint, Concat
from provisioner.stacks.config_common import DnsConfig, SignInConfig
from resources.base import Ref

#: where the load balancer sends the browser back after the identity provider's sign-in page
CALLBACK_PATH = "/oauth2/idpresponse"
#: the Cognito app client's scopes (the ALB asks for ``SignInConfig.scope``, which must be among them)
COGNITO_SCOPES = ("openid", "email", "profile")


def callback_urls(hosts: list[Any]) -> list[Any]:
    """The redirect URIs to register with the identity provider: one per name the load balancer is reached by
    (wildcard names cannot be registered)."""
    return [Concat("https://", h, CALLBACK_PATH) for h in hosts if not _wildcard(h)]


def actions(
    bp: Blueprint, auth: SignInConfig, *, what: str, pool_name: str, domain: str, hosts: list[Any]
) -> list[dict[str, Any]]:
    """The authenticate action (a list of one, or none for ``type = "none"``); Cognito's pieces are added to
    ``bp`` as ``cognito.*.<what>``."""
    common = {
        "scope": auth.scope,
        "session_timeout": auth.session_timeout,
        "on_unauthenticated_request": "authenticate",
    }
    if auth.type == "oidc":
        return [
            {
                "type": "authenticate-oidc",
                "issuer": auth.issuer,
                "authorization_endpoint": auth.authorization_endpoint,
                "token_endpoint": auth.token_endpoint,
                "user_info_endpoint": auth.user_info_endpoint,
                "client_id": auth.client_id,
                # read from Secrets Manager when the listener or rule is written, never kept
                "client_secret_arn": auth.client_secret_arn,
                "client_secret_key": auth.client_secret_key,
                **common,
            }
        ]
    if auth.type != "cognito":
        return []
    pool = bp.add(f"cognito.user_pool.{what}", "cognito.user_pool", name=pool_name, admin_create_user_only=True)
    bp.add(f"cognito.user_pool_domain.{what}", "cognito.user_pool_domain", domain=domain, user_pool_id=pool)
    extra = [s for s in auth.scope.split() if s not in COGNITO_SCOPES]
    bp.add(
        f"cognito.user_pool_client.{what}",
        "cognito.user_pool_client",
        user_pool_id=pool,
        name=pool_name,
        generate_secret=True,
        callback_urls=callback_urls(hosts),
        allowed_oauth_flows=["code"],
        allowed_oauth_scopes=[*COGNITO_SCOPES, *extra],
        supported_identity_providers=["COGNITO"],
    )
    return [
        {
            "type": "authenticate-cognito",
            "user_pool_arn": Ref(address=f"cognito.user_pool.{what}", attr="arn"),
            "user_pool_client_id": Ref(address=f"cognito.user_pool_client.{what}", attr="client_id"),
            "user_pool_domain": Ref(address=f"cognito.user_pool_domain.{what}", attr="domain"),
            **common,
        }
    ]


def alias_record(bp: Blueprint, address: str, dns: DnsConfig, alb: str) -> None:
    """``dns.record_name`` as an alias A record to the load balancer at address ``alb`` (nothing when DNS is
    not configured)."""
    if not dns.enabled:
        return
    bp.add(
        address,
        "route53.record",
        zone_id=dns.zone_id,
        name=dns.record_name,
        type="A",
        alias={
            "dns_name": Ref(address=alb, attr="dns_name"),
            "hosted_zone_id": Ref(address=alb, attr="canonical_hosted_zone_id"),
            "evaluate_target_health": False,
        },
    )


def _wildcard(host: Any) -> bool:
    return isinstance(host, str) and ("*" in host or "?" in host)
