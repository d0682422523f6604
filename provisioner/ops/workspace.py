"""A stack's workspace and session: its config and state store, and what one command knows once AWS has said
who and where we are. Below the commands (app, preflight, migrate, permissions), which all take a Session."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from provisioner.core.context import Facts
from provisioner.core.identity import describe_identity, stack_identity
from provisioner.core.session import ClientFactory
from provisioner.engine.graph import Blueprint
from provisioner.engine.outputs import resolve_outputs
from provisioner.engine.reconcile import EngineError, Listener, Runner
from provisioner.stacks import metaflow, mlflow
from provisioner.stacks.config import Config, load_config
from resources.base import error_code
from state.document import StateDocument
from state.local import LocalStateStore


class AwsAccessError(Exception):
    """No usable credentials or endpoint: said once, before anything is changed."""


STACK_BUILDERS = {"metaflow": metaflow.build, "mlflow": mlflow.build}
#: whether a stack has outputs fetched from AWS when asked for (secrets), known from the config alone
SECRET_OUTPUTS = {"metaflow": metaflow.has_secret_outputs, "mlflow": mlflow.has_secret_outputs}


@contextmanager
def aws_access(clients: ClientFactory) -> Iterator[None]:
    """Credential, region and endpoint problems as one clear message (AwsAccessError)."""
    where = clients.endpoint_url or f"AWS ({clients.region})"
    try:
        yield
    except NoCredentialsError:
        raise AwsAccessError(
            "no AWS credentials found. Set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
            "or use the local sandbox: `mfprov sandbox start` and add --sandbox."
        ) from None
    except ProfileNotFound as err:
        raise AwsAccessError(f"{err}. Check AWS_PROFILE.") from None
    except NoRegionError:
        raise AwsAccessError("no AWS region: set `region` in mfprov.toml or AWS_REGION.") from None
    except EndpointConnectionError as err:
        raise AwsAccessError(
            f"cannot reach {err.kwargs.get('endpoint_url', where)}. If you use the sandbox, start it with "
            "`mfprov sandbox start`."
        ) from None
    except ClientError as err:
        code = error_code(err)
        raise AwsAccessError(
            f"{where} refused the credentials ({code}): {err.response['Error'].get('Message', '')}. "
            "Refresh or fix them (e.g. `aws sso login`, AWS_PROFILE)."
        ) from None
    except BotoCoreError as err:
        raise AwsAccessError(f"cannot talk to {where}: {err}") from None


def discover_facts(
    clients: ClientFactory, zones: tuple[str, ...] = (), ident: Mapping[str, Any] | None = None
) -> Facts:
    """Who and where we are: the first AWS call of every run, so credential problems surface here. The zones
    are asked for only when not known already (the state keeps those a stack was built with)."""
    with aws_access(clients):
        ident = ident or clients.client("sts").get_caller_identity()
        if not zones:
            listed = clients.client("ec2").describe_availability_zones(
                Filters=[
                    {"Name": "state", "Values": ["available"]},
                    {"Name": "zone-type", "Values": ["availability-zone"]},
                ]
            )["AvailabilityZones"]
            zones = tuple(sorted(z["ZoneName"] for z in listed))
    return Facts(
        account_id=ident["Account"],
        region=clients.region,
        partition=ident["Arn"].split(":")[1],
        availability_zones=zones,
    )


@dataclass
class Workspace:
    """A config file and the state folder beside it."""

    config_path: Path
    config: Config

    @classmethod
    def open(cls, config_path: Path) -> Workspace:
        return cls(config_path, load_config(config_path))

    def store(self) -> Any:
        """The configured state store: ``.mfprov/`` beside the config, or the S3 object for a team."""
        cfg = self.config.state
        if cfg.backend == "s3":
            from state.s3 import S3StateStore

            # Its own client: state bookkeeping is not counted among the stack's AWS calls.
            clients = ClientFactory(region=self.config.region)
            key = cfg.key or f"mfprov/{self.config.name}/state.json"
            return S3StateStore(clients.client("s3"), str(cfg.bucket), key)
        return LocalStateStore(self.config_path.resolve().parent / ".mfprov")


@dataclass
class Session:
    """Everything one command needs once AWS has been asked who and where we are."""

    ws: Workspace
    clients: ClientFactory
    facts: Facts
    blueprint: Blueprint
    store: Any
    state: StateDocument
    runner: Runner
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def outputs(self) -> dict[str, Any]:
        return resolve_outputs(self.blueprint, self.state)


class IdentityMismatch(EngineError):
    """The run would act as another stack than the one its state records (another region, suffix, prefix)."""


def bind_identity(state: StateDocument, cfg: Config, region: str) -> None:
    """A state belongs to one stack identity, region included: a run that resolves another (the shell's region
    changed, the suffix was edited) is refused before any change, instead of building a second copy beside the
    first and losing track of it. A state that holds no resource takes the run's identity."""
    identity = stack_identity(cfg.name, cfg.prefix, cfg.suffix, region)
    if state.stack_id in (None, identity) and (state.region in (None, region) or not state.resources):
        state.stack_id = identity
        return
    if not state.resources:
        state.stack_id, state.region = identity, region
        return
    if state.region and state.region != region:
        raise IdentityMismatch(
            f"the state of stack {cfg.name!r} is in region {state.region}, but this run resolves {region}. "
            f'Set region = "{state.region}" in the config (or AWS_REGION), or use another folder for a stack in '
            f"{region}; nothing was changed."
        )
    assert state.stack_id is not None
    raise IdentityMismatch(
        f"the state belongs to {describe_identity(state.stack_id)}, but the config now makes "
        f"{describe_identity(identity)}. Changing the name, prefix or suffix makes another stack: put them back, "
        "or `mfprov down` this one with its old config first; if this is another stack that shares the state's "
        "location (an S3 state of the same name), give it its own [state] key. Nothing was changed."
    )


@contextmanager
def session(ws: Workspace, command: str, listener: Listener, lock: bool = True) -> Iterator[Session]:
    cfg = ws.config
    started = time.monotonic()
    clients = ClientFactory(region=cfg.region, max_workers=cfg.parallelism)
    with aws_access(clients):
        ident = clients.client("sts").get_caller_identity()  # before the state (S3) or a lock
    account = ident["Account"]
    store = ws.store()
    if lock:
        store.acquire(command)
    try:
        state = store.load(cfg.name)
        if state.account_id and state.account_id != account:
            raise AwsAccessError(
                f"the state of stack {cfg.name!r} belongs to account {state.account_id} in {state.region}, "
                f"but the credentials are for account {account}. Use the right AWS_PROFILE."
            )
        bind_identity(state, cfg, clients.region)
        same_region = state.region in (None, clients.region)
        facts = discover_facts(clients, tuple(state.availability_zones) if same_region else (), ident)
        blueprint = STACK_BUILDERS[cfg.stack](cfg, facts)
        blueprint.graph()  # a cycle or a dangling ref is a bug; fail before touching anything
        runner = Runner(
            blueprint=blueprint,
            store=store,
            state=state,
            clients=clients,
            facts=facts,
            user_tags=dict(cfg.tags),
            timeouts=dict(cfg.timeouts),
            workers=cfg.parallelism,
            listener=listener,
        )
        yield Session(ws, clients, facts, blueprint, store, state, runner, started)
    finally:
        if lock:
            store.release()
