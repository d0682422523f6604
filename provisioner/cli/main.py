"""``mfprov``: the command line. Presentation only; the work is in ``provisioner.ops.app``.

Progress, prompts and messages go to stderr, results (plan, drift, outputs, state, graph, ``--json``) to stdout,
so both can be piped; piped, values are printed whole on plain lines (``provisioner.cli.views``).
Exit codes: 0 success / in sync, 1 error (for ``check``: a workload that cannot reach what it needs), 2 drift
found (``drift`` only), 3 the plan would delete or replace a protected resource (``plan`` only; ``up`` refuses it).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import secrets
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from provisioner.cli.init_template import TEMPLATES, render_template
from provisioner.sandbox import control as sandbox
from provisioner.stacks.catalog import CONFIG_FILE, DEFAULT_PRESET, STACKS


class _Later:
    """A module imported when first used: `mfprov --help` need not load boto3, networkx and the engine."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


if TYPE_CHECKING:
    from provisioner.cli import views
    from provisioner.engine import graph as _graph
    from provisioner.engine import outputs as _outputs
    from provisioner.engine import plan as _plan
    from provisioner.engine import reconcile as _engine
    from provisioner.engine.plan import Plan
    from provisioner.engine.reconcile import DriftItem, Event
    from provisioner.ops import app as core
    from provisioner.ops import cost as costs
    from provisioner.stacks import config as configs
    from state import local as states
else:
    core = _Later("provisioner.ops.app")
    costs = _Later("provisioner.ops.cost")
    _engine, _graph, _outputs, _plan = (
        _Later(f"provisioner.engine.{m}") for m in ("reconcile", "graph", "outputs", "plan")
    )
    views = _Later("provisioner.cli.views")
    configs = _Later("provisioner.stacks.config")
    states = _Later("state.local")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

cli = typer.Typer(
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Stand up and keep healthy a Metaflow platform on AWS, directly with boto3.",
)
state_cli = typer.Typer(help="Look at and mend the state (.mfprov/state.json).", no_args_is_help=True)
sandbox_cli = typer.Typer(help="The local sandbox AWS (a moto server on 127.0.0.1).", no_args_is_help=True)
cli.add_typer(sandbox_cli, name="sandbox")
cli.add_typer(state_cli, name="state")


class Options:
    config: Path = Path(CONFIG_FILE)
    sandbox: bool = False


OPTS = Options()

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Path to mfprov.toml.")]


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"mfprov {version('mfprov')}", markup=False)
        raise typer.Exit()


@cli.callback()
def main_options(
    config: Annotated[Path, typer.Option("--config", "-c", help="Path to mfprov.toml.")] = Path(CONFIG_FILE),
    use_sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Run against the local sandbox (started if needed).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    OPTS.config, OPTS.sandbox = config, use_sandbox  # the command's own, if given, come on top (use_options)


def use_options(config: Path | None, use_sandbox: bool) -> None:
    """--config and --sandbox, given before the subcommand or after it (after it wins); then the sandbox is
    started, with the region of the config in use."""
    if config is not None:
        OPTS.config = config
    if use_sandbox or OPTS.sandbox:
        OPTS.sandbox = False  # once per command
        try:

            info = sandbox.start()
        except sandbox.SandboxError as e:
            fail(str(e))
        region = _config_region(OPTS.config)
        sandbox.activate(info, region)
        err.print(f"[dim]sandbox: {info.url}[/dim]")


def _config_region(path: Path) -> str | None:
    try:
        return core.Workspace.open(path).config.region
    except configs.ConfigError:
        return None


def _explain_denied(message: str) -> str:
    """An AWS refusal as "the credentials in use lack <action> on <resource>" (provisioner.ops.permissions)."""
    from provisioner.ops.permissions import explain_denied

    return explain_denied(message)


def fail(message: str, code: int = 1) -> Any:
    err.print(f"[bold red]error:[/bold red] {_explain_denied(message)}")
    raise typer.Exit(code)


# ---------------------------------------------------------------- progress


class Progress:
    """Prints each resource as it starts and finishes, with its elapsed time."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()
        self.failures: list[Event] = []

    def __call__(self, e: Event) -> None:
        with self.lock:
            if e.kind == "failed":
                self.failures.append(e)
                err.print(f"  [red]✗[/red] {e.address}  [red]{_explain_denied(e.message)}[/red]")
            elif self.quiet:
                return
            elif e.kind == "start":
                err.print(f"  [dim]{_plan.SYMBOLS.get(e.action, '·'):>3} {e.address}  {e.action}…[/dim]")
            elif e.kind == "done":
                colour = {"create": "green", "delete": "red", "update": "yellow", "replace": "magenta"}.get(
                    e.action, "cyan"
                )
                err.print(f"  [{colour}]✓[/{colour}] {e.address}  {e.action} in {e.elapsed:.1f}s")
            elif e.kind == "progress":
                err.print(f"      [dim]{e.address}: {e.message}[/dim]")
            elif e.kind == "skipped":
                err.print(f"  [yellow]-[/yellow] {e.address}  [yellow]{e.message}[/yellow]")


def open_session(command: str, listener: Any, lock: bool = True) -> Any:
    ws = core.Workspace.open(OPTS.config)
    return core.session(ws, command, listener, lock=lock)


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a user can act on: said in one line, exit 1 (bugs keep their traceback)."""
    from provisioner.core.session import RegionError

    return (
        configs.ConfigError, core.AwsAccessError, RegionError, states.StateError, _engine.EngineError,
        sandbox.SandboxError, ValueError,
    )  # fmt: skip


#: set (to anything) to see the traceback of an unexpected error instead of its one line
DEBUG_ENV = "MFPROV_DEBUG"


def guarded(fn: Any) -> Any:
    """Every error ends as one line and exit 1: the errors a user can act on as they are worded; anything else
    (an unexpected AWS answer, a bug) as its type and first line, with the traceback under MFPROV_DEBUG=1.

    Every command so wrapped also takes --config and --sandbox after its name (`mfprov plan --sandbox`)."""
    import functools
    import inspect
    import os

    import click

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            use_options(kwargs.pop(_CONFIG_PARAM, None), kwargs.pop(_SANDBOX_PARAM, False))
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # typer's and click's own exits and usage errors (first: naming the others imports the engine)
        except user_errors() as e:
            fail(str(e))
        except Exception as e:
            if os.environ.get(DEBUG_ENV):
                raise
            first = (str(e).strip().splitlines() or [""])[0]
            source = "AWS answered" if type(e).__module__.startswith("botocore") else "unexpected error"
            fail(f"{source}: {type(e).__name__}: {first} (set {DEBUG_ENV}=1 for the traceback)")

    signature = inspect.signature(fn, eval_str=True)
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *_COMMON_PARAMS]
    )
    wrapper.__annotations__ = {**fn.__annotations__, **{p.name: p.annotation for p in _COMMON_PARAMS}}
    return wrapper


_CONFIG_PARAM, _SANDBOX_PARAM = "common_config", "common_sandbox"
_SANDBOX_HELP = "Run against the local sandbox (started if needed)."
#: the options every command takes after its name too
_COMMON_PARAMS = [
    inspect.Parameter(
        _CONFIG_PARAM,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Path | None, typer.Option("--config", "-c", help="Path to mfprov.toml.")],
    ),
    inspect.Parameter(
        _SANDBOX_PARAM,
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--sandbox", help=_SANDBOX_HELP)],
    ),
]


def calls_line(s: core.Session) -> str:
    rec = s.clients.recorder
    return f"{rec.total} AWS calls ({sum(rec.mutating().values())} mutating)"


def render_plan(plan: Plan, verbose: bool = False, refused: list[Any] | None = None) -> None:
    """The plan is a result: on stdout, values whole (provisioner.cli.views)."""
    views.render_plan(out, plan, refused or [], verbose)


def fmt(value: Any) -> str:
    return str(views.fmt(value))


def confirm_or_refuse(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        fail("no terminal to confirm on; pass --yes to proceed without asking")
    return typer.confirm(question, default=False, err=True)  # the prompt on stderr: stdout holds only results



# ---------------------------------------------------------------- commands


@cli.command()
@guarded
def init(
    stack: Annotated[str, typer.Option(help=f"Stack to build: {', '.join(STACKS)}.")] = "metaflow",
    preset: Annotated[str | None, typer.Option(help="Preset of the stack (default: the stack's own).")] = None,
    name: Annotated[str | None, typer.Option(help="Stack name (default: from the folder name).")] = None,
) -> None:
    """Write a commented starter mfprov.toml in the current folder (never overwrites one)."""
    path = OPTS.config
    if path.exists():
        fail(f"{path} already exists; edit it, or remove it to start over")
    if name is None:
        name = re.sub(r"[^a-z0-9-]+", "-", Path.cwd().resolve().name.lower()).strip("-")
        if not name or not name[0].isalpha():
            name = f"mf-{name}".strip("-")
        name = name[:40].rstrip("-") or "metaflow"
    if stack not in TEMPLATES:
        fail(f"unknown stack {stack!r}; known stacks: {', '.join(STACKS)}")
    preset = preset or DEFAULT_PRESET[stack]
    text = render_template(stack, name=name, preset=preset, suffix=secrets.token_hex(4))  # values TOML-escaped
    import tomllib

    configs.parse_config(tomllib.loads(text), str(path))  # a bad --stack/--preset/--name is refused, nothing written
    with open(path, "x") as fh:  # never overwrites, even one made meanwhile
        fh.write(text)
    err.print(f"Wrote {path} (stack {stack!r}, preset {preset!r}, name {name!r}). Next: mfprov plan")


@cli.command()
@guarded
def plan(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every field of creates.")] = False,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Save the plan for `up --plan FILE` (refused if AWS changes meanwhile)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The plan as JSON on stdout (schema mfprov.plan/1).")] = False,
) -> None:
    """Show what `up` would change, field by field, without changing anything. Exit 0, or 3 when the change
    would delete or replace a protected resource (marked REFUSED: `up` would refuse it)."""
    with open_session("plan", Progress(quiet=True), lock=False) as s:
        p = core.save_plan(s, out_file) if out_file else core.plan(s)
        refused = s.runner.protected_changes(p)
        change = costs.plan_change(s.state, s.blueprint, s.facts.region)
        if as_json:
            doc = views.plan_json(s.state.stack, p, refused, monthly_cost=change.to_json())
            sys.stdout.write(json.dumps(doc, indent=2, default=repr) + "\n")
        else:
            render_plan(p, verbose, refused)
            out.print(change.line(), markup=False)
        err.print(f"[dim]{s.elapsed:.1f}s, {calls_line(s)}[/dim]")
    if refused:
        err.print(
            f"[bold red]Refused[/bold red]: this would delete or replace {len(refused)} protected resource(s) "
            f"({', '.join(a.address for a in refused)}); `mfprov up` refuses it. Undo the change, or lift the "
            "protection deliberately with `mfprov state unprotect ADDRESS`."
        )
        raise typer.Exit(views.EXIT_PROTECTED)


@cli.command()
@guarded
def cost(
    region: Annotated[str | None, typer.Option(help="Price the stack in this region (default: the stack's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The estimate as JSON on stdout (mfprov.cost/1).")] = False,
) -> None:
    """The stack's monthly cost while idle, per resource, from the config alone (no AWS call: before `up` too).
    On-demand list prices of the AWS price pages, of the date shown; what bills by use shows $0 (docs/cost.md)."""
    from provisioner.core.session import resolve_region
    from provisioner.ops import cost as costs

    cfg = core.Workspace.open(OPTS.config).config
    where = resolve_region(region or cfg.region)
    est = costs.of_blueprint(costs.offline_blueprint(cfg, where), where)
    if as_json:
        sys.stdout.write(json.dumps(costs.to_json(cfg.name, est), indent=2) + "\n")
        return
    title = f"Monthly cost of stack {cfg.name!r} while idle in {where} (USD; AWS list prices of {costs.PRICES_DATE})"
    views.show_table(out, ["ADDRESS", "TYPE", "WHAT BILLS", "USD/MONTH"], costs.rows(est), title=title)
    out.print(f"Total: ${est.usd_month:,.2f} a month while idle", markup=False)
    if est.unpriced:
        err.print(f"Not in the total, no price in the table: {'; '.join(est.unpriced)}", markup=False)
    err.print(f"{len(est.free)} other resource(s) bill nothing (IAM roles, security groups, subnets, routes...).")


@cli.command()
@guarded
def check(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout.")] = False) -> None:
    """Check that every workload can reach what it needs (routes, public IPs, VPC endpoints). Exit 0 yes, 1 no."""
    with open_session("check", Progress(quiet=True), lock=False) as s:
        problems = core.check(s)
        stack = s.state.stack
    if as_json:
        out.print_json(json.dumps({"stack": stack, "problems": problems}))
    else:
        for line in problems:
            out.print(line, markup=False)
    if problems:
        err.print(f"[red]{len(problems)} problem(s)[/red]: those workloads would never start on AWS.")
        raise typer.Exit(1)
    if not as_json:
        err.print("[green]Reachable[/green]: every workload has a way to what it needs.")


@cli.command()
@guarded
def up(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Apply a plan saved with `plan --out`, if still current.")
    ] = None,
) -> None:
    """Create or repair the stack so AWS matches the config."""
    progress = Progress()
    stop = threading.Event()
    with open_session("up", progress) as s:
        s.runner.stop = stop

        def confirm(p: Plan) -> bool:
            render_plan(p)
            return confirm_or_refuse("Apply these changes?", yes)

        try:
            result = core.up(s, confirm, plan_file=plan_file)
        except KeyboardInterrupt:
            fail("interrupted; the state holds everything created so far - run `mfprov up` again to finish")
        for u in result.left_alone:
            err.print(f"[yellow]Not repaired[/yellow]: {u.address} {u.id} (unmanaged) - {u.kept_because}")
        if result.run is None:
            if result.plan.empty:
                err.print(f"[green]Up to date[/green]: nothing to change. {s.elapsed:.1f}s, {calls_line(s)}")
            else:
                err.print("Declined: nothing changed.")
            return

        t = s.runner.tally
        summary = (
            f"{t['create']} created, {t['update']} updated, {t['replace']} replaced, {t['delete']} deleted "
            f"in {s.elapsed:.1f}s, {calls_line(s)}"
        )
        if result.run.interrupted:
            fail(f"interrupted after {summary}. Run `mfprov up` again to finish.")
        if not result.run.ok:
            fail(f"{len(result.run.failed)} resource(s) failed; {summary}. Fix the cause and run `mfprov up` again.")
        err.print(f"[bold green]Apply complete[/bold green]: {summary}")
        if result.migration is not None:
            report_migration(result.migration, "`mfprov migrate` runs it again")
        err.print(NEXT_STEP[s.ws.config.stack])


def report_migration(m: Any, again: str) -> None:
    """The migration Lambda's answer on stdout; a failure as the one error line (exit 1)."""
    out.print_json(json.dumps(m.answer, default=str))
    if not m.ok:
        fail(f"schema migration by {m.function}: {m.error}; {again}")
    err.print(f"[green]Schema migrated[/green] by {m.function}.")


@cli.command()
@guarded
def migrate() -> None:
    """Migrate the metadata service's database schema: invoke the stack's migration Lambda and print its answer.
    Exit 0 when the schema is up to date afterwards, 1 when the Lambda failed or the schema is still behind."""
    from provisioner.ops.migrate import migrate as run_migration

    with open_session("migrate", Progress(quiet=True)) as s:
        m = run_migration(s)
    report_migration(m, "see the Lambda's log group /aws/lambda/" + m.function)


class Rotatable(StrEnum):
    """What `mfprov rotate` rotates."""

    db_password = "db-password"
    api_key = "api-key"


@cli.command()
@guarded
def rotate(
    what: Annotated[
        Rotatable,
        typer.Argument(help="db-password: the database's master password; api-key: the metadata service's API key."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="The result as JSON on stdout (schema mfprov.rotate/1).")
    ] = False,
) -> None:
    """Rotate a secret of the stack. db-password: a new master password for the database, its secret and the
    services that read it (restarted and waited for). api-key: a new API key in the usage plan and in the Metaflow
    profiles that held the old one, then the old key deleted. Interrupted, run it again: it finishes the rotation
    it finds, never starting a second one. Exit 0 done, 1 error or nothing to rotate (docs/rotation.md)."""
    from provisioner.ops import rotate as rotation

    with open_session("rotate", Progress()) as s:
        try:
            result = rotation.rotate(s, what.value)
        except KeyboardInterrupt:
            fail(f"interrupted; run `mfprov rotate {what.value}` again to finish the rotation")
        stats = f"{s.elapsed:.1f}s, {calls_line(s)}"
    if as_json:
        sys.stdout.write(json.dumps(result.json(), indent=2) + "\n")
    else:
        for line in rotation.summary(result):
            out.print(line, markup=False)
    resumed = " (finishing a rotation an earlier run started)" if result.resumed else ""
    err.print(f"[bold green]Rotated[/bold green] {what.value} of stack {result.stack!r}{resumed}. {stats}")


@cli.command()
@guarded
def down(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    delete_protected: Annotated[
        bool,
        typer.Option(
            "--delete-protected",
            help="Also delete the protected resources (database - after a final snapshot -, bucket, KMS keys), "
            "for this run. Needed even with --yes.",
        ),
    ] = False,
) -> None:
    """Delete every resource of the stack, but the protected ones (and what they need) unless told."""
    asked: list[bool] = []
    with open_session("down", Progress()) as s:

        def confirm(doomed: list[str], kept: list[str], unmanaged: list[Any]) -> bool:
            err.print(f"This deletes {len(doomed) + len(unmanaged)} resources of stack {s.state.stack!r}:")
            for a in doomed:
                err.print(f"  [red]-[/red] {a}")
            for u in unmanaged:
                err.print(f"  [red]-[/red] {u.address} {u.id} (unmanaged)")
            if kept:
                err.print(f"and keeps {len(kept)}:")
                show_kept(s, kept)
            asked.append(True)
            return confirm_or_refuse("Delete them?", yes)

        result = core.down(s, confirm, delete_protected=delete_protected)
        if result.run is None and asked:
            err.print("Declined: nothing changed.")
            return
        for u in result.left_alone:
            err.print(f"[yellow]Left alone[/yellow]: {u.address} {u.id} (unmanaged) - {u.kept_because}")
        kept = (
            f" Kept {len(result.kept)} protected resource(s) and what they need: {', '.join(result.kept)}; "
            "`mfprov down --delete-protected` deletes them too."
            if result.kept
            else ""
        )
        if result.run is None:
            if result.present == 0:
                err.print(f"Nothing to delete: stack {s.state.stack!r} has no resources. {calls_line(s)}")
            elif not kept:
                err.print("Nothing deleted.")
            else:
                err.print(f"Nothing else to delete.{kept}")
            return
        summary = f"{s.runner.tally['delete']} deleted in {s.elapsed:.1f}s, {calls_line(s)}"
        if not result.run.ok:
            fail(f"{len(result.run.failed)} resource(s) could not be deleted; {summary}. Run `mfprov down` again.")
        err.print(f"[bold green]Destroy complete[/bold green]: {summary}.{kept}")
        if result.kept:
            show_kept(s, result.kept)


def show_kept(s: core.Session, kept: list[str]) -> None:
    """Each resource `down` keeps, and why: it holds data, or a protected one cannot exist without it."""
    for address, why in views.kept_reasons(s.runner, kept).items():
        err.print(f"  [cyan]kept[/cyan] {address}  [dim]{why}[/dim]")



#: what to do after a successful `up`, per stack
NEXT_STEP = {
    "metaflow": "Run `mfprov outputs --write-profile NAME` to point Metaflow at this stack.",
    "mlflow": "Run `mfprov outputs` for the tracking URI: export MLFLOW_TRACKING_URI=<tracking_uri>.",
}

DRIFT_SCHEMA = "mfprov.drift/2"


def drift_json(stack: str, items: list[DriftItem]) -> dict[str, Any]:
    return {
        "schema": DRIFT_SCHEMA,
        "stack": stack,
        "in_sync": not items,
        "items": [
            {
                "address": i.address,
                "kind": i.kind,
                "class": i.drift_class,
                "status": i.status,
                "id": i.id,
                "repair": i.repair,
                "changes": [
                    {
                        "field": c.field,
                        "expected": c.expected,
                        "actual": c.actual,
                        "forces_replacement": c.forces_replacement,
                    }
                    for c in i.changes
                ],
            }
            for i in items
        ],
    }


@cli.command()
@guarded
def drift(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout.")] = False) -> None:
    """Compare AWS with the config and the state. Exit 0 in sync, 2 drift found, 1 error."""
    try:
        with open_session("drift", Progress(quiet=True), lock=False) as s:
            items = core.drift(s)
            stack = s.state.stack
            stats = f"{s.elapsed:.1f}s, {calls_line(s)}"
    except user_errors() as e:
        fail(str(e))
    if as_json:
        out.print_json(json.dumps(drift_json(stack, items), default=repr))
    elif not items:
        err.print(f"[green]In sync[/green]: AWS matches the config ({stats}).")
    else:
        rows: list[list[str]] = []
        for i in items:
            status = i.status if i.id is None or i.status == "changed" else f"{i.status} ({i.id})"
            if not i.changes:
                rows.append([i.address, status, "", "", "", i.repair])
            for n, c in enumerate(i.changes):
                # piped, every line carries its resource, so `grep` finds the field that changed with it
                first = n == 0 or not out.is_terminal
                rows.append(
                    [i.address if first else "", status if first else "", c.field, fmt(c.expected), fmt(c.actual),
                     i.repair if first else ""]
                )  # fmt: skip
        views.show_table(
            out, ["resource", "status", "field", "expected", "actual", "up will"], rows, f"Drift in stack {stack!r}"
        )

        err.print(f"[yellow]{len(items)} drift item(s)[/yellow]; `mfprov up` repairs what it can. ({stats})")
    raise typer.Exit(2 if items else 0)


@cli.command()
@guarded
def outputs(
    as_json: Annotated[bool, typer.Option("--json", help="Print the outputs as JSON on stdout.")] = False,
    write: Annotated[
        str | None, typer.Option("--write-profile", metavar="NAME", help="Write ~/.metaflowconfig/config_NAME.json.")
    ] = None,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Print secrets (the API key) in clear.")] = False,
) -> None:
    """The stack's outputs: for Metaflow its profile (the keys terraform-aws-metaflow emits that the stack has),
    for MLflow the tracking URI, artifact root, bucket and load balancer.

    Secrets (the API key) are fetched from AWS when asked for and masked on the console unless --show-secrets;
    the profile file written with --write-profile holds the real value (mode 600).
    """
    if write is not None:
        _outputs.profile_path(write)  # a bad name (or none) is refused before anything is read
    ws = core.Workspace.open(OPTS.config)
    if write and ws.config.stack != "metaflow":
        fail(f"--write-profile writes a Metaflow profile; stack {ws.config.name!r} is {ws.config.stack}")
    state = ws.store().load(ws.config.name)
    if not state.outputs:
        fail(f"stack {ws.config.name!r} has no outputs yet; run `mfprov up` first")
    profile = dict(state.outputs)
    secrets: dict[str, str] = {}
    if secret_outputs_of(ws):
        with open_session("outputs", Progress(quiet=True), lock=False) as s:
            secrets = core.fetch_secret_outputs(s)
    if write:
        path = _outputs.write_profile(write, _outputs.profile_of({**profile, **secrets}))
        err.print(f"Wrote {path}. Use it with: METAFLOW_PROFILE={write} python flow.py run")
    shown = {**profile, **{k: v if show_secrets else _outputs.mask(v) for k, v in secrets.items()}}
    masked = {} if show_secrets else {k: _outputs.HOW_TO_SEE_SECRETS for k in secrets}
    if as_json:
        sys.stdout.write(json.dumps(_outputs.outputs_json(shown, masked), indent=2, default=str) + "\n")
    elif not write:
        for title, part in _outputs.sections(shown).items():
            views.show_table(out, [], [[k, views.fmt(v)] for k, v in part.items()], title)
    if masked and not as_json:
        err.print(f"Masked: {', '.join(masked)}; {_outputs.HOW_TO_SEE_SECRETS}.", markup=False)



def secret_outputs_of(ws: core.Workspace) -> bool:
    """Whether the stack has secret outputs, known from the config alone (no AWS call)."""
    return core.SECRET_OUTPUTS[ws.config.stack](ws.config)


@cli.command()
@guarded
def graph(
    fmt_: Annotated[str, typer.Option("--format", "-f", help="dot or mermaid.")] = "dot",
) -> None:
    """Print the dependency graph of the stack (Graphviz DOT or Mermaid)."""
    if fmt_ not in ("dot", "mermaid"):
        fail(f"--format must be dot or mermaid, not {fmt_!r}")
    with open_session("graph", Progress(quiet=True), lock=False) as s:
        g = s.blueprint.graph()
    sys.stdout.write(_graph.to_dot(g) if fmt_ == "dot" else _graph.to_mermaid(g))


@cli.command()
@guarded
def permissions(
    as_json: Annotated[bool, typer.Option("--json", help="Only the policy document, on stdout.")] = False,
    account: Annotated[
        str | None,
        typer.Option(help="The account id to write, in partition aws (default: the credentials' own, via STS)."),
    ] = None,
) -> None:
    """Print the least-privilege IAM policy that `up`, `drift` and `down` of this config need."""
    from provisioner.ops import permissions as perms

    ws = core.Workspace.open(OPTS.config)
    region = ws.config.region or perms.default_region()
    found = (account, "aws") if account else perms.caller_account(region)
    policy = perms.policy_for(ws.config, region, *(found or ()))
    sys.stdout.write(policy.json() + "\n")
    if as_json:
        return
    if found is None:
        err.print(
            f"No AWS credentials at hand: {perms.ACCOUNT_PLACEHOLDER} and {perms.PARTITION_PLACEHOLDER} stand for "
            "the account and partition (CloudFormation's Fn::Sub fills them), or pass --account.",
            markup=False,
        )
    for why, actions in policy.unscoped_reasons().items():
        err.print(f"On * ({why}): {', '.join(actions)}", markup=False)
    err.print(policy.summary(), markup=False)


@cli.command()
@guarded
def demo(
    keep: Annotated[bool, typer.Option(help="Leave the sandbox running afterwards.")] = False,
) -> None:
    """The whole story in the sandbox: init, up, outputs, an out-of-band change, drift, repair, down."""
    from provisioner.cli.demo import run_demo

    raise typer.Exit(run_demo(err, cli, keep_sandbox=keep))


# ---------------------------------------------------------------- import and state


@cli.command("import")
@guarded
def import_(
    address: Annotated[str, typer.Argument(help="The stack address, e.g. s3.bucket.datastore.")],
    id: Annotated[str, typer.Argument(help="The AWS id (bucket name, vpc-..., role name, ARN...).")],
) -> None:
    """Adopt a resource made elsewhere (an existing bucket, say) after checking it matches the config."""
    with open_session("import", Progress(quiet=True)) as s:
        differs = core.import_resource(s, address, id)
    err.print(f"Imported {id} as {address}.")
    if differs:
        err.print(f"It differs from the config in: {', '.join(differs)}; `mfprov up` puts that right.")


def _store() -> tuple[Any, Any]:
    ws = core.Workspace.open(OPTS.config)
    return ws, ws.store()


@state_cli.command("list")
@guarded
def state_list(
    as_json: Annotated[bool, typer.Option("--json", help="As JSON on stdout (schema mfprov.state-view/1).")] = False,
) -> None:
    """Every resource the state knows: address, kind, id, status, protected."""
    ws, store = _store()
    doc = store.load(ws.config.name)
    if as_json:
        sys.stdout.write(json.dumps(views.state_list_json(doc, protection), indent=2) + "\n")
        return
    rows = [[a, rs.kind, rs.id, rs.status, "yes" if protection(rs) else ""] for a, rs in sorted(doc.resources.items())]
    title = f"stack {doc.stack!r}: {len(doc.resources)} resources (serial {doc.serial})"
    views.show_table(out, ["address", "kind", "id", "status", "protected"], rows, title)


def protection(rs: Any) -> bool:
    from resources.base import resource_type

    return bool(rs.protected) if rs.protected is not None else resource_type(rs.kind).stateful


def _set_protection(addresses: list[str], value: bool) -> None:
    ws, store = _store()
    store.acquire("state protect" if value else "state unprotect")
    try:
        doc = store.load(ws.config.name)
        unknown = [a for a in addresses if a not in doc.resources]
        if unknown:
            fail(f"not in the state: {', '.join(unknown)}; `mfprov state list` shows what is")
        for a in addresses:
            doc.resources[a].protected = value
        store.save(doc)
    finally:
        store.release()


@state_cli.command("protect")
@guarded
def state_protect(addresses: Annotated[list[str], typer.Argument(help="Resource addresses.")]) -> None:
    """Protect resources: mfprov will not delete or replace them (`down` keeps them) until unprotected."""
    _set_protection(addresses, True)
    err.print(f"Protected {', '.join(addresses)}.")


@state_cli.command("unprotect")
@guarded
def state_unprotect(addresses: Annotated[list[str], typer.Argument(help="Resource addresses.")]) -> None:
    """Lift the protection: `down`, or a change that replaces them, may then delete them (and their data)."""
    _set_protection(addresses, False)
    err.print(f"Unprotected {', '.join(addresses)}: `down` and replacements may now delete them.")


@state_cli.command("show")
@guarded
def state_show(
    address: Annotated[str, typer.Argument(help="The resource's address.")],
    as_json: Annotated[bool, typer.Option("--json", help="As JSON on stdout (schema mfprov.state-view/1).")] = False,
) -> None:
    """One resource's record: id, attributes, the properties last applied, dependencies."""
    ws, store = _store()
    doc = store.load(ws.config.name)
    if address not in doc.resources:
        fail(f"{address} is not in the state; `mfprov state list` shows what is")
    rs = doc.resources[address]
    record = views.state_record(address, rs, protection(rs))
    if as_json:
        sys.stdout.write(json.dumps({"schema": views.STATE_SCHEMA, "stack": doc.stack, **record}, indent=2) + "\n")
        return
    views.show_table(out, [], views.record_rows(record), f"{address} in stack {doc.stack!r}")


@state_cli.command("rm")
@guarded
def state_rm(address: Annotated[str, typer.Argument(help="The resource's address.")]) -> None:
    """Forget a resource: it stays in AWS untouched; mfprov no longer manages it (until found by its tags)."""
    ws, store = _store()
    store.acquire("state rm")
    try:
        doc = store.load(ws.config.name)
        rs = doc.resources.pop(address, None)
        if rs is None:
            fail(f"{address} is not in the state")
        doc.released[rs.id] = address  # it keeps the stack's tags: the sweep must not take it for a leftover
        store.save(doc)
    finally:
        store.release()
    err.print(f"Removed {address} from the state; the AWS resource is untouched.")


@state_cli.command("unlock")
@guarded
def state_unlock(
    force: Annotated[bool, typer.Option("--force", help="Remove the lock even if its holder may be running.")] = False,
) -> None:
    """Remove a lock left behind by a run that died (--force: an unreadable one too)."""
    from state.local import LockUnreadable

    _, store = _store()
    try:
        holder = store.holder()
    except LockUnreadable as e:
        if not force:
            raise
        store.unlock()
        err.print(f"Removed the unreadable lock {e.path}.")
        return
    if holder is None:
        err.print("The state is not locked.")
        return
    if store.holder_alive() and not force:
        fail(
            f"the lock is held by {holder.get('user')}@{holder.get('host')} (pid {holder.get('pid')}), running "
            f"`{holder.get('command')}` since {holder.get('since')}, which is still alive (or on another host); "
            "wait for it, or pass --force if you are sure"
        )
    store.unlock()
    err.print(f"Removed the lock of `{holder.get('command')}` by {holder.get('user')}@{holder.get('host')}.")


@state_cli.command("history")
@guarded
def state_history() -> None:
    """Earlier versions of the state (S3 backend: every save; local: the one backup)."""
    _, store = _store()
    history = store.history()
    rows = [[str(v["version"]), str(v["modified"]), str(v["size"]), "yes" if v["latest"] else ""] for v in history]

    views.show_table(out, ["version", "modified", "size", "latest"], rows)



@state_cli.command("restore")
@guarded
def state_restore(version: Annotated[str, typer.Argument(help="A version from `mfprov state history`.")]) -> None:
    """Make an earlier version of the state the current one (the current one stays in the history)."""
    ws, store = _store()
    store.acquire("state restore")
    try:
        store.restore(version, ws.config.name)  # checks it is this stack's; never needs the current one readable
    finally:
        store.release()
    err.print(f"Restored version {version} of the state of {ws.config.name!r}.")


# ---------------------------------------------------------------- sandbox


@sandbox_cli.command("start")
@guarded
def sandbox_start(port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1.")] = None) -> None:
    """Start the local sandbox AWS (no-op when it runs already)."""
    try:
        info = sandbox.start(port)
    except sandbox.SandboxError as e:
        fail(str(e))
    err.print(f"Sandbox running at {info.url} (pid {info.pid}). Add --sandbox to any command to use it.")


@sandbox_cli.command("stop")
@guarded
def sandbox_stop() -> None:
    """Stop the sandbox; everything in it is gone."""
    err.print("Sandbox stopped." if sandbox.stop() else "No sandbox was running.")


@sandbox_cli.command("status")
@guarded
def sandbox_status() -> None:
    """Exit 0 and print the URL when the sandbox runs, else exit 1."""
    info = sandbox.status()
    if info is None:
        err.print("No sandbox running. Start one with `mfprov sandbox start`.")
        raise typer.Exit(1)
    out.print(info.url)


def main() -> None:
    cli()
