"""``logrca incident ...``: list, show and move incidents through their lifecycle; confirm, act, escalate."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

import typer

from logrca import PROJECT_ROOT
from logrca.commands import checked_index_prefix, guarded
from logrca.es_client import es_url_option, with_es_url

incident_app = typer.Typer(
    help=(
        "Incidents filed by the pipeline (Elasticsearch index <prefix>-incidents). Lifecycle: "
        "open → acknowledged → mitigated → resolved → reviewed → archived, with 'assign' to hand it to a person "
        "(or team) at any point before it is archived. Every change records who and when and is "
        "refused (not lost) when someone else changed the incident meanwhile."
    ),
    no_args_is_help=True,
)

AsOption = typer.Option(None, "--as", help="Who makes the change (default: $USER).")
NoteOption = typer.Option(None, "--note", "-m", help="Free text kept in the incident's history.")
WideOption = typer.Option(False, "--wide", "-w", help="Do not wrap tables to the terminal's width.")
VersionOption = typer.Option(
    None,
    "--if-version",
    help="Only change it if it is still at this version (SEQ:TERM, as 'show' prints it).",
)


def _who(value: str | None) -> str:
    return value or os.environ.get("USER") or getpass.getuser()


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@incident_app.callback()
def options(
    ctx: typer.Context,
    es_url: str = es_url_option(),
    index_prefix: str = typer.Option(
        "logrca",
        "--index-prefix",
        envvar="LOGRCA_INDEX_PREFIX",
        help="Index prefix.",
        callback=checked_index_prefix,
    ),
    config: Path = typer.Option(
        None,
        "--config",
        "-c",
        envvar="LOGRCA_CONFIG",
        help="logrca YAML config (for catalogue and knowledge base).",
    ),
    catalogue: Path = typer.Option(
        None, "--catalogue", envvar="LOGRCA_CATALOGUE", help="Service catalogue (default: the config's)."
    ),
) -> None:
    ctx.obj = {"es_url": es_url, "index_prefix": index_prefix, "config": config, "catalogue": catalogue}


def _store(ctx: typer.Context):
    from logrca.es_client import es_client
    from logrca.incidents.store import IncidentStore

    return IncidentStore(es_client(), ctx.obj["index_prefix"])  # --es-url, before or after the command


def _config_or_error(ctx: typer.Context):
    """(the config, None), or (None, the ConfigError) for a command that can go on without it."""
    from logrca.assets.config import ConfigError, load_config

    try:
        return load_config(ctx.obj["config"] or PROJECT_ROOT / "examples" / "shop" / "logrca.yaml"), None
    except ConfigError as error:
        return None, error


def _config(ctx: typer.Context):
    config, error = _config_or_error(ctx)
    if error is not None:
        _fail(str(error))
    return config


def _redactor(ctx: typer.Context):
    """The config's secret rules (the default ones when no config loads), or None when turned off."""
    from logrca.parsers.ingest.secrets import Redactor, SecretsConfig

    config, _ = _config_or_error(ctx)
    return Redactor.from_config(config.secrets if config is not None else SecretsConfig())


def _catalogue(ctx: typer.Context):
    from logrca.incidents.catalogue import CatalogueError, load_catalogue

    path = ctx.obj["catalogue"]
    if path is None:
        config = _config(ctx)
        path = config.resolve(config.catalogue)
    if path is None:
        _fail("no catalogue: pass --catalogue or set 'catalogue:' in the config")
    try:
        return load_catalogue(path)
    except CatalogueError as error:
        _fail(str(error))


def _version(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        seq, term = text.split(":")
        return int(seq), int(term)
    except ValueError:
        _fail(f"--if-version: expected SEQ:TERM like 12:1, got {text!r}")


@incident_app.command("list")
def list_command(
    ctx: typer.Context,
    status: list[str] = typer.Option(
        None, "--status", "-S", help="Only these statuses (repeatable; default: all but archived)."
    ),
    service: str = typer.Option(
        None,
        "--service",
        "-s",
        help="Only incidents with this service as root cause (ranked first or confirmed) or among the affected.",
    ),
    size: int = typer.Option(50, "--size", "-n", min=1, max=10000, help="How many incidents."),
    include_archived: bool = typer.Option(False, "--all", help="Archived incidents too."),
    wide: bool = WideOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON document per line."),
) -> None:
    """List incidents, newest first (archived ones only with --all or --status archived)."""
    from logrca.incident_view import console, incidents_table, more_than_shown
    from logrca.incidents.record import CURRENT_STATUSES, STATUSES

    unknown = sorted(set(status or ()) - set(STATUSES))
    if unknown:
        _fail(f"--status: unknown status {', '.join(map(repr, unknown))}; one of {', '.join(STATUSES)}")
    statuses = tuple(status) if status else (None if include_archived else CURRENT_STATUSES)
    incidents, matching = guarded(lambda: _store(ctx).newest(statuses=statuses, service=service, size=size))
    if as_json:
        for incident in incidents:
            typer.echo(json.dumps(incident))
        if more := more_than_shown(len(incidents), matching):  # said on stderr: stdout stays JSON lines
            typer.echo(more, err=True)
    elif incidents:
        console(wide=wide).print(incidents_table(incidents, wide=wide, matching=matching))
    elif status or include_archived:
        typer.echo("no incidents", err=True)
    else:  # archived ones are left out: say so, and how to see them
        archived = guarded(lambda: _store(ctx).count(statuses=("archived",), service=service))
        hint = f" ({archived} archived: --all shows them)" if archived else ""
        typer.echo(f"no incidents{hint}", err=True)


@incident_app.command("show")
def show_command(
    ctx: typer.Context,
    incident_id: str,
    report: bool = typer.Option(True, "--report/--no-report", help="Print the RCA report too."),
    wide: bool = WideOption,
    as_json: bool = typer.Option(False, "--json", help="The stored document as JSON."),
) -> None:
    """Show one incident: record, runbooks, alert deliveries (with errors), history, report, version."""
    from logrca.incident_view import console, incident_details

    incident, version = guarded(lambda: _store(ctx).get(incident_id))
    if as_json:
        typer.echo(json.dumps({**incident, "_version": f"{version[0]}:{version[1]}"}, indent=2))
        return
    console(wide=wide).print(incident_details(incident, version, report=report))


def _transition_command(status: str, summary: str):
    def command(
        ctx: typer.Context,
        incident_id: str,
        note: str = NoteOption,
        who: str = AsOption,
        if_version: str = VersionOption,
    ) -> None:
        from logrca.incidents.record import readable_time

        store = _store(ctx)
        incident = guarded(
            lambda: store.transition(
                incident_id, status, by=_who(who), note=note, version=_version(if_version)
            )
        )
        typer.echo(f"{incident_id} is now {status} ({_who(who)}, {readable_time(incident[f'{status}_at'])})")

    command.__doc__ = summary
    return command


for _name, _status, _summary in (
    ("ack", "acknowledged", "Acknowledge: you are on it (stops escalation)."),
    ("mitigate", "mitigated", "Mark mitigated: the impact is contained."),
    ("resolve", "resolved", "Mark resolved: the cause is fixed."),
    ("review", "reviewed", "Mark reviewed: the post-incident review is done."),
    (
        "archive",
        "archived",
        "Archive: the record stays stored and searchable, leaves the default list and the review's follow-ups.",
    ),
):
    incident_app.command(_name)(_transition_command(_status, _summary))


@incident_app.command("assign")
def assign_command(
    ctx: typer.Context,
    incident_id: str,
    person: str = typer.Argument(..., help="Who handles it from now on."),
    team: str = typer.Option(
        None, "--team", help="Also hand it to this owning team (default: the team stays)."
    ),
    note: str = NoteOption,
    who: str = AsOption,
    if_version: str = VersionOption,
) -> None:
    """Assign the incident to a person (and with --team to another owning team). 'ack' assigns it to you when nobody has it."""
    from logrca.incidents.store import IncidentUnchanged

    store, by, version = _store(ctx), _who(who), _version(if_version)
    try:
        incident = guarded(
            lambda: store.assign(incident_id, person, by=by, team=team, note=note, version=version)
        )
    except IncidentUnchanged as same:
        typer.echo(f"{incident_id} is {same}; nothing changed")
        return
    owner = (incident.get("owner") or {}).get("team") or "-"
    typer.echo(f"{incident_id} assigned to {incident['assignee']['name']} (team {owner}) by {by}")


@incident_app.command("category")
def category_command(
    ctx: typer.Context, incident_id: str, category: str, note: str = NoteOption, who: str = AsOption
) -> None:
    """Set the category by hand (process_defect, operation_error, upgrade_compatibility, dependency_failure, resource_exhaustion, bad_input)."""
    incident = guarded(lambda: _store(ctx).set_category(incident_id, category, by=_who(who), note=note))
    typer.echo(f"{incident_id} category {incident['category']} (operator)")


@incident_app.command("confirm")
def confirm_command(
    ctx: typer.Context,
    incident_id: str,
    cause: str = typer.Option(
        ..., "--cause", help="The service that truly caused it: one the incident or the deployment knows."
    ),
    force: bool = typer.Option(
        False, "--force", help="Confirm a service neither the incident nor the deployment knows."
    ),
    note: str = NoteOption,
    who: str = AsOption,
    knowledge_dir: Path = typer.Option(
        None, "--knowledge-dir", help="Where past incidents go (default: <config knowledge_base>/incidents)."
    ),
) -> None:
    """Record the true root cause; the incident becomes a knowledge-base entry and a labelled case for 'logrca eval incidents'."""
    from logrca.incidents.confirm import confirmed_line, deployment_services
    from logrca.incidents.review import write_past_incident

    config, config_error = _config_or_error(ctx)
    catalogue = ctx.obj["catalogue"] or (config.resolve(config.catalogue) if config else None)
    known = deployment_services(config.resolve(config.topology) if config else None, catalogue)
    incident = guarded(
        lambda: _store(ctx).confirm(incident_id, cause, by=_who(who), note=note, known=known, force=force)
    )
    typer.echo(f"{incident_id}: {confirmed_line(incident['confirmed_cause'])}")
    if knowledge_dir is None:
        if config is None:
            typer.echo(f"no knowledge-base entry written ({config_error}); pass --knowledge-dir", err=True)
        base = config.resolve(config.knowledge_base) if config else None
        knowledge_dir = base / "incidents" if base else None
    if knowledge_dir is not None:
        written = write_past_incident(incident, knowledge_dir)
        rewritten = " (rewritten)" if incident["confirmed_cause"].get("replaces") else ""
        typer.echo(f"knowledge-base entry: {written}{rewritten}")


@incident_app.command("act")
def act_command(
    ctx: typer.Context,
    incident_id: str,
    action: str = typer.Argument(None, help="Action name (omit to list the actions that fit)."),
    yes: bool = typer.Option(False, "--yes", help="Really run it (default: dry run, show what would run)."),
    who: str = AsOption,
    knowledge_dir: Path = typer.Option(
        None, "--knowledge-dir", help="The runbooks' knowledge base (default: the config's knowledge_base)."
    ),
) -> None:
    """Show (dry run) or, with --yes, run a runbook action of the incident, as its runbook declares it now; the run is recorded on it."""
    from logrca.incidents import actions as acts
    from logrca.incidents.action_secrets import shown_output, shown_plan
    from logrca.rca.knowledge import KnowledgeError, load_knowledge_runbooks
    from logrca.rca.runbook_actions import ActionError

    store = _store(ctx)
    incident, _ = guarded(lambda: store.get(incident_id))
    if knowledge_dir is None:
        knowledge_dir = (config := _config(ctx)).resolve(config.knowledge_base)
    try:
        runbooks = load_knowledge_runbooks(knowledge_dir)
        if action is None:
            listing = acts.action_listing(acts.current_actions(incident, runbooks))
            typer.echo(f"actions for {incident_id}:\n{listing}")
            return
        chosen = acts.current_action(incident, runbooks, action, source=knowledge_dir)
        plan = acts.plan_action(chosen, incident)
    except (KnowledgeError, ActionError) as error:
        _fail(str(error))
    redactor = _redactor(ctx)
    shown, secrets = shown_plan(plan, redactor)  # the terminal and the incident get no credential
    typer.echo(acts.describe_plan(shown))
    if not yes:
        typer.echo("dry run: nothing was run. Add --yes to run it.")
        return
    result = acts.run_action(plan)
    result["output"] = shown_output(result["output"], redactor, secrets)
    record = acts.run_record(chosen, shown, result, by=_who(who))
    guarded(
        lambda: store.annotate(
            incident_id,
            "action",
            by=_who(who),
            note=f"{action}: exit {result['exit_status']}",
            retries=3,
            action_runs=incident.get("action_runs", []) + [record],
        )
    )
    typer.echo(result["output"].rstrip())
    typer.echo(
        f"exit status {result['exit_status']} ({'ok' if result['ok'] else 'FAILED'}); recorded on {incident_id}"
    )
    if not result["ok"]:
        raise typer.Exit(1)


@incident_app.command("escalate")
def escalate_command(ctx: typer.Context) -> None:
    """Escalate open incidents past their ack deadline, and retry undelivered alerts (what the sensor runs)."""
    from logrca.incidents.alerts import retry_pending
    from logrca.incidents.escalation import escalate_due

    store, catalogue = _store(ctx), _catalogue(ctx)
    escalated = guarded(lambda: escalate_due(store, catalogue))
    retried = guarded(lambda: retry_pending(store, catalogue))
    typer.echo(
        f"escalated {len(escalated)}: {' '.join(escalated) or '-'}; retried {len(retried)} deliveries, "
        f"{sum(r['ok'] for r in retried)} delivered"
    )


@incident_app.command("weekly")
def weekly_command(
    ctx: typer.Context,
    out: Path = typer.Option(
        Path("incident-review.md"), "--out", help="Markdown file (the chart goes beside it as .png)."
    ),
    weeks: int = typer.Option(8, "--weeks", min=1, help="Weeks of trend."),
) -> None:
    """Write the weekly incident review (same as the incident_review asset)."""
    from logrca.incidents.review import weekly_review, write_review
    from logrca.rca.markdown import counted

    review = weekly_review(guarded(lambda: _store(ctx).search(size=None)), weeks=weeks)
    chart = write_review(review, out)
    typer.echo(f"{out} ({counted(review.stats['incidents_week'], 'incident')} this week), {chart}")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.add_typer(incident_app, name="incident")

    for command in incident_app.registered_commands:  # --es-url after the command name too
        command.callback = with_es_url(command.callback)
