"""``logrca search``: full-text search over findings, reports, incidents and runbooks, and drill-down to log lines."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from logrca.commands import checked_index_prefix, guarded
from logrca.es_client import es_url_option
from logrca.rca.markdown import counted
from logrca.tables import console

KINDS = ("findings", "reports", "incidents", "knowledge")


def _service_of(source: dict) -> str:
    service = source.get("service")
    if isinstance(service, dict):
        service = service.get("name")
    return (
        service
        or source.get("root_cause")
        or ", ".join(source.get("services", []) or source.get("affected_services", []) or [])
    )


#: How much of a hit's template or summary the table shows (``--json`` has it whole).
WHAT_CHARS = 200
#: Width of the time column: ``02:18:03.004000Z`` under its date (the column wraps at the space).
_WHEN_WIDTH = 16


def _when(source: dict) -> str:
    """The hit's time as stored (ISO-8601 with its offset; never cut), a space between date and time
    so that a narrow column breaks there, not inside the time."""
    when = source.get("first_seen") or source.get("window_start") or source.get("detected_at") or ""
    return str(when).replace("+00:00", "Z").replace("T", " ", 1)


def _summary(explanation: str | None) -> str:
    """A report's summary (the top suspect's signals) as its strongest signal in words, and how many more."""
    from logrca.rca.rank import headline, strongest_signal

    strongest, others = strongest_signal(explanation)
    return f"{headline(strongest)} (+{others} more)" if others else headline(strongest)


def _hits_table(hits: list[dict], *, wide: bool, more: bool = False, newest: bool = False):
    from logrca.rca.markdown import words_within
    from logrca.tables import table as make_table

    order = "newest first" if newest else "best match first"
    table = make_table(
        f"{order}; 'match' is search relevance, not an anomaly score"
        + (f"\nthe {'newest' if newest else 'best'} {len(hits)}: more match (-n for more)" if more else ""),
        ["kind", "match", "service", "when (UTC)", "what"],
        wide=wide,
        fixed=("kind", "match"),
        widest={"when (UTC)": _WHEN_WIDTH},
    )
    for hit in hits:
        src = hit["source"]
        what = (
            src.get("template") or _summary(src.get("summary")) or src.get("title") or src.get("detail") or ""
        )
        what = words_within(what, WHAT_CHARS)  # a stack trace's template ran 20 lines; all of it in --json
        if hit["kind"] == "findings" and src.get("template_id") is not None:
            what += f"\n→ lines: logrca search --lines -t {src['template_id']} -s {_service_of(src)}"
        table.add_row(hit["kind"], f"{hit['score'] or 0:.2f}", _service_of(src), _when(src), what)
    return table


def _line_time(value) -> str:
    """A line's time to the millisecond, ``2026-03-10 02:18:03.004`` (UTC), or as stored when it is no time.

    Four characters narrower than the stored ISO text, which the message column gets."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value or "")
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _lines_table(lines: list[dict], *, wide: bool, more: bool = False):
    from logrca.tables import table as make_table

    table = make_table(
        f"the first {counted(len(lines), 'log line')}, oldest first (more match: -n for more)"
        if more
        else f"{counted(len(lines), 'log line')}, oldest first",
        ["@timestamp (UTC)", "service", "level", "message"],
        wide=wide,
        fixed=("@timestamp (UTC)", "level"),
    )
    for line in lines:
        table.add_row(
            _line_time(line.get("@timestamp")),
            (line.get("service") or {}).get("name", ""),
            (line.get("log") or {}).get("level") or "",
            line.get("message") or "",
        )
    return table


def _line_filters(lines: bool, **filters) -> dict:
    """The log-line filters, refused (exit 2) when given without ``--lines`` or running backwards."""
    given = [f"--{name}" for name, value in filters.items() if value is not None]
    if given and not lines:
        typer.echo(f"error: {', '.join(given)} filter log lines: add --lines (-l)", err=True)
        raise typer.Exit(2)
    since, until = filters["since"], filters["until"]
    if since and until and since >= until:
        typer.echo(
            f"error: --since {since:%Y-%m-%d %H:%M:%S} is not before --until {until:%Y-%m-%d %H:%M:%S}",
            err=True,
        )
        raise typer.Exit(2)
    return {"template_id": filters["template"], "trace_id": filters["trace"], "since": since, "until": until}


def search_command(
    query: str = typer.Argument(
        "", help='Words to look for (simple query syntax: "exact phrase", -exclude, a | b). Empty: newest.'
    ),
    kind: list[str] = typer.Option(
        None, "--kind", "-k", help=f"Restrict to: {', '.join(KINDS)}. Repeatable."
    ),
    service: str = typer.Option(None, "--service", "-s", help="Only hits about this service."),
    lines: bool = typer.Option(
        False,
        "--lines",
        "-l",
        help="Search the indexed log lines instead (oldest first): drill down from a finding.",
    ),
    template: int = typer.Option(
        None, "--template", "-t", help="With --lines: only lines of this template id."
    ),
    trace: str = typer.Option(None, "--trace", help="With --lines: only lines of this trace/request id."),
    since: datetime = typer.Option(None, "--since", help="With --lines: from this time (UTC, ISO-8601)."),
    until: datetime = typer.Option(None, "--until", help="With --lines: before this time (UTC, ISO-8601)."),
    size: int = typer.Option(10, "--size", "-n", min=1, max=500, help="How many hits."),
    index_prefix: str = typer.Option(
        None,
        "--index-prefix",
        help="Index prefix (default $LOGRCA_INDEX_PREFIX or 'logrca').",
        callback=checked_index_prefix,
    ),
    es_url: str = es_url_option(),
    wide: bool = typer.Option(False, "--wide", "-w", help="Do not wrap tables to the terminal's width."),
    as_json: bool = typer.Option(False, "--json", help="Print hits as JSON lines."),
) -> None:
    """Search what logrca indexed: findings, RCA reports, incidents, runbooks; or log lines.

    Findings are the anomalies the pipeline found and indexed.

    With --lines it searches the log lines themselves (data stream <prefix>-logs-<system>).

    Connects to --es-url or $LOGRCA_ES_URL (default http://127.0.0.1:9200, the server of 'logrca es start').
    """
    kinds = tuple(kind or KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        typer.echo(f"error: --kind {bad[0]!r} is not one of {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    line_filters = _line_filters(lines, template=template, trace=trace, since=since, until=until)
    found = _search(  # one more than asked: whether more match is said, not left for the user to guess
        query,
        kinds=kinds,
        service=service,
        size=size + 1,
        index_prefix=index_prefix,
        lines=line_filters if lines else None,
    )
    more, found = len(found) > size, found[:size]
    if as_json:
        for hit in found:
            typer.echo(json.dumps(hit, default=str))
        if more:
            typer.echo(f"more than {size} match: -n for more", err=True)
    elif not found:
        typer.echo("no hits")
    else:
        shown = (
            _lines_table(found, wide=wide, more=more)
            if lines
            else _hits_table(found, wide=wide, more=more, newest=not query)
        )
        console(wide=wide).print(shown)


def _search(
    query: str,
    *,
    kinds: tuple[str, ...],
    service: str | None,
    size: int,
    index_prefix: str | None,
    lines: dict | None,
) -> list[dict]:
    """Hits of logrca's indices, or (``lines`` filters given) log lines; exit 1, one line, when
    Elasticsearch fails (:func:`logrca.commands.guarded`)."""
    from logrca.es_client import es_client
    from logrca.pipelines.environment import deployment_from_env
    from logrca.rca.log_lines import search_lines
    from logrca.rca.search_index import search_all

    prefix = index_prefix or deployment_from_env().index_prefix

    def found() -> list[dict]:
        client = es_client()
        if lines is not None:
            return search_lines(client, prefix=prefix, query=query, service=service, size=size, **lines)
        return search_all(client, prefix=prefix, query=query, kinds=kinds, service=service, size=size)

    return guarded(found)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("search")(search_command)
