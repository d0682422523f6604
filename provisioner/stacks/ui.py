"""The Metaflow UI (terraform-aws-metaflow's ui module §2.6, and the CloudFormation template's A.3.11 Cognito
sign-in): an HTTPS application load balancer, ``/api/*`` to the UI backend (the metadata service's image serving
port 8083) and everything else to the static UI (port 3000), both on Fargate in the stack's cluster.

Fixed from the references: port 80 answers with a redirect to HTTPS (neither has it); the ALB admits 443 and 80
only from ``ui.allow_cidrs`` and the services only the ALB's traffic on their own ports (Terraform: every protocol
from the ALB and from themselves; CloudFormation: 443 from anywhere); the tasks get a public IP only where there
is no NAT (Terraform: always); the UI backend is given the database's SSL mode and reads the password from
Secrets Manager (Terraform: a plain environment variable, and no SSL mode); the database admits the UI backend's
group instead of the UI carrying the metadata service's group; log retention.

Sign-in (``ui.auth``) is Cognito's or the user's own OIDC provider's, and ``ui.dns`` an alias record, as the
MLflow stack has them (``sign_in``).
"""

from __future__ import annotations

from typing import Any

from provisioner.core.context import Facts
from provisioner.engine.graph import Blueprint, Concat
from provisioner.stacks import database, metadata_service, sign_in
from provisioner.stacks import metaflow_iam as pol
from provisioner.stacks.config import Config
from provisioner.stacks.network import Network
from resources.base import Ref

#: the UI services' security group, which the database admits (``metadata_service``)
UI_SECURITY_GROUP = "ec2.security_group.ui"
BACKEND_PORT, STATIC_PORT = 8083, 3000
UI_BACKEND_COMMAND = ["/opt/latest/bin/python3", "-m", "services.ui_backend_service.ui_server"]


ALB = "elbv2.load_balancer.alb"


def host(cfg: Config) -> Any:
    """The name people reach the UI by: the Route 53 record, else the name the certificate is for when it is
    configured, else the load balancer's DNS name (the certificate will not match it until DNS points a name
    there)."""
    return cfg.ui.dns.record_name or cfg.ui.public_domain or Ref(address=ALB, attr="dns_name")


def url(cfg: Config) -> Any:
    """Where people open the UI (``METAFLOW_UI_URL``)."""
    name = host(cfg)
    return f"https://{name}" if isinstance(name, str) else Concat("https://", name)


def add(bp: Blueprint, cfg: Config, facts: Facts, net: Network, bucket_arn: str, key_arn: Ref) -> None:
    n = cfg.named
    ui = cfg.ui
    md = cfg.metadata
    vpc = net.vpc
    vpc_cidr = cfg.network.vpc_cidr

    # --- security groups: the ALB admits the allow-list; the services admit the ALB only
    alb_egress = [
        {"protocol": "tcp", "from_port": p, "to_port": p, "cidr": vpc_cidr, "description": what}
        for p, what in ((BACKEND_PORT, "UI backend"), (STATIC_PORT, "static UI"))
    ]
    if ui.auth.type != "none":
        # the ALB itself asks the provider's token endpoint (on the internet) for the signed-in user's tokens
        provider = "Cognito" if ui.auth.type == "cognito" else "identity provider"
        alb_egress.append(
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0", "description": provider}
        )
    alb_sg = bp.add(
        "ec2.security_group.alb",
        "ec2.security_group",
        name=n("alb-sg"),
        description="Metaflow UI load balancer: HTTPS (and HTTP, redirected) from the allow-list",
        vpc_id=vpc,
        ingress=[
            {"protocol": "tcp", "from_port": port, "to_port": port, "cidr": c, "description": what}
            for c in ui.allow_cidrs
            for port, what in ((443, "HTTPS"), (80, "HTTP, redirected to HTTPS"))
        ],
        egress=alb_egress,
    )
    ui_sg = bp.add(
        UI_SECURITY_GROUP,
        "ec2.security_group",
        name=n("ui-backend-sg"),
        description="Metaflow UI services on Fargate: their ports from the UI load balancer only",
        vpc_id=vpc,
        ingress=[
            {"protocol": "tcp", "from_port": p, "to_port": p, "source_security_group_id": alb_sg}
            for p in (BACKEND_PORT, STATIC_PORT)
        ],
        egress=[{"protocol": "-1", "cidr": "0.0.0.0/0"}],
    )

    # --- the load balancer, its target groups and listeners
    bp.add(
        ALB,
        "elbv2.load_balancer",
        name=n("alb"),
        type="application",
        scheme="internal" if ui.internal else "internet-facing",
        # internet-facing: the public subnets; internal: where the services are
        subnets=net.workload_subnets if ui.internal else net.public_subnets,
        security_group_ids=[alb_sg],
        after=net.workload_ready if ui.internal else net.public_ready,
    )
    alb_arn = Ref(address=ALB, attr="arn")
    alb_dns = Ref(address=ALB, attr="dns_name")
    bp.add(
        "elbv2.target_group.ui_backend",
        "elbv2.target_group",
        name=n("ui-backend"),
        protocol="HTTP",
        port=BACKEND_PORT,
        vpc_id=vpc,
        target_type="ip",
        health_check_protocol="HTTP",
        health_check_path="/api/ping",
        health_check_port="traffic-port",
        health_check_interval=10,
        healthy_threshold=2,
        unhealthy_threshold=2,
    )
    bp.add(
        "elbv2.target_group.ui_static",
        "elbv2.target_group",
        name=n("ui-static"),
        protocol="HTTP",
        port=STATIC_PORT,
        vpc_id=vpc,
        target_type="ip",
        health_check_protocol="HTTP",
        health_check_path="/",
        health_check_port="traffic-port",
    )
    backend_tg = Ref(address="elbv2.target_group.ui_backend", attr="arn")
    static_tg = Ref(address="elbv2.target_group.ui_static", attr="arn")

    # the names the UI is reached by, each a callback of the sign-in (the ALB returns to the name it was asked)
    hosts: list[Any] = [alb_dns, *dict.fromkeys(h for h in (ui.public_domain, ui.dns.record_name) if h)]
    authenticate = sign_in.actions(bp, ui.auth, what="ui", pool_name=n("ui"), domain=cfg.cognito_domain, hosts=hosts)
    sign_in.alias_record(bp, "route53.record.ui", ui.dns, ALB)
    bp.add(
        "elbv2.listener.ui_https",
        "elbv2.listener",
        load_balancer_arn=alb_arn,
        port=443,
        protocol="HTTPS",
        certificate_arn=ui.certificate_arn,
        ssl_policy=ui.ssl_policy,
        default_actions=[*authenticate, {"type": "forward", "target_group_arn": static_tg}],
    )
    bp.add(
        "elbv2.listener.ui_http",
        "elbv2.listener",
        load_balancer_arn=alb_arn,
        port=80,
        protocol="HTTP",
        default_actions=[{"type": "redirect", "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}],
    )
    bp.add(
        "elbv2.listener_rule.ui_backend",
        "elbv2.listener_rule",
        listener_arn=Ref(address="elbv2.listener.ui_https", attr="arn"),
        priority=1,
        conditions=[{"field": "path-pattern", "values": ["/api/*"]}],
        actions=[*authenticate, {"type": "forward", "target_group_arn": backend_tg}],
    )

    # --- the two services: log group, task role, task definitions, services (in the metadata service's cluster)
    log_group = n("ui")
    bp.add("logs.log_group.ui", "logs.log_group", name=log_group, retention_days=md.log_retention_days)
    bp.add(
        "iam.role.ui_task",
        "iam.role",
        name=n("ui-ecs-task"),
        description="The Metaflow UI's task role: read the datastore (terraform-aws-metaflow §3.6)",
        assume_role_policy=pol.trust(pol.principal(facts, "ecs-tasks")),
        inline_policies=pol.datastore_read_policies(facts, bucket_arn, key_arn),
    )
    db_address = database.addresses(metadata_service.DATABASE, md.database).address
    secret_arn = Ref(address="secretsmanager.secret.db", attr="arn")
    sysroot = f"s3://{cfg.bucket_name}/metaflow"
    backend_env = {
        "MF_METADATA_DB_HOST": Ref(address=db_address, attr="address"),
        "MF_METADATA_DB_NAME": "metaflow",
        "MF_METADATA_DB_PORT": "5432",
        "MF_METADATA_DB_USER": "metaflow",
        "MF_METADATA_DB_SSL_MODE": md.ssl_mode,
        "UI_ENABLED": "1",
        "PATH_PREFIX": "/api/",
        "MF_DATASTORE_ROOT": sysroot,
        "METAFLOW_DATASTORE_SYSROOT_S3": sysroot,
        "LOGLEVEL": "INFO",
        "METAFLOW_SERVICE_URL": f"http://localhost:{BACKEND_PORT}/api/metadata",
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DEFAULT_METADATA": "service",
        **ui.extra_backend_env,
    }
    execution_role = Ref(address="iam.role.ecs_execution", attr="arn")
    task_role = Ref(address="iam.role.ui_task", attr="arn")
    backend, static = n("ui_backend"), n("ui_static")
    bp.add(
        "ecs.task_definition.ui_backend",
        "ecs.task_definition",
        family=backend,
        cpu=ui.backend_cpu,
        memory=ui.backend_memory,
        execution_role_arn=execution_role,
        task_role_arn=task_role,
        containers=[
            {
                "name": backend,
                "image": ui.backend_image or md.image,
                "port_mappings": [BACKEND_PORT],
                "command": UI_BACKEND_COMMAND,
                "environment": backend_env,
                "secrets": {"MF_METADATA_DB_PSWD": Concat(secret_arn, ":password::")},
                "log_group": log_group,
                "log_region": facts.region,
                "log_stream_prefix": "ui_backend",
            }
        ],
        after=("logs.log_group.ui",),
    )
    bp.add(
        "ecs.task_definition.ui_static",
        "ecs.task_definition",
        family=static,
        cpu=ui.static_cpu,
        memory=ui.static_memory,
        execution_role_arn=execution_role,
        task_role_arn=task_role,
        containers=[
            {
                "name": static,
                "image": ui.static_image,
                "port_mappings": [STATIC_PORT],
                "environment": dict(ui.extra_static_env),
                "log_group": log_group,
                "log_region": facts.region,
                "log_stream_prefix": "ui_static",
            }
        ],
        after=("logs.log_group.ui",),
    )
    cluster = Ref(address="ecs.cluster.main", attr="name")
    for what, name, tg, port, listener in (
        ("ui_backend", backend, backend_tg, BACKEND_PORT, "elbv2.listener_rule.ui_backend"),
        ("ui_static", static, static_tg, STATIC_PORT, "elbv2.listener.ui_https"),
    ):
        bp.add(
            f"ecs.service.{what}",
            "ecs.service",
            name=name,
            cluster=cluster,
            task_definition=Ref(address=f"ecs.task_definition.{what}", attr="arn"),
            desired_count=ui.desired_count,
            subnets=net.workload_subnets,
            security_group_ids=[ui_sg],
            assign_public_ip=net.workload_public_ip,
            load_balancers=[{"target_group_arn": tg, "container_name": name, "container_port": port}],
            # ECS refuses a target group no listener uses yet
            after=(listener, *net.workload_ready),
        )

