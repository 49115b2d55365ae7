"""Read trace spans from OpenTelemetry OTLP JSON, Jaeger JSON and Zipkin JSON v2 files into SPAN_SCHEMA rows.

Each reader takes one file (plain or gzip, detected by its magic bytes) and returns a
:class:`~logrca.parsers.ingest.signal_records.FileRead`: the spans, the records that could not be stored
with the reason (a bad JSON line, a span without an id, an end before its start...), and counts where
``rows_read == rows_stored + rows_quarantined``. A row is one span; a JSON document or line that does
not decode is one row too (its spans cannot be counted).
"""

from __future__ import annotations

import json
from pathlib import Path

from logrca.parsers.ingest.files import FileProblem, iter_line_batches
from logrca.parsers.ingest.signal_records import FileRead, NamedSource, file_text, record_text
from logrca.parsers.ingest.span_rows import SpanRows

__all__ = ["HOST_ATTRIBUTES", "read_jaeger_json", "read_otlp_json", "read_zipkin_json"]

#: Resource / process attributes that name the span's host, first present wins (OpenTelemetry semantic
#: conventions: the pod, then the host, then the service instance; Jaeger clients write ``hostname``).
HOST_ATTRIBUTES = ("k8s.pod.name", "host.name", "hostname", "service.instance.id", "ip")
_OTLP_STATUS_ERROR = (2, "2", "STATUS_CODE_ERROR")


def _int(value: object) -> int | None:
    """An integer from a JSON number or a decimal string (OTLP/JSON writes 64-bit integers as strings)."""
    if type(value) is str:  # the usual case first
        value = value.strip()
        return int(value) if value.isdigit() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _otlp_attributes(attributes: object) -> dict[str, object]:
    """``[{"key": k, "value": {"stringValue": v}}]`` (OTLP ``KeyValue`` list) as ``{k: v}``."""
    found: dict[str, object] = {}
    for item in attributes if isinstance(attributes, list) else []:
        if isinstance(item, dict) and isinstance(item.get("value"), dict) and item["value"]:
            found[str(item.get("key"))] = next(iter(item["value"].values()))
    return found


def _first_host(attributes: dict[str, object]) -> str | None:
    return next((str(attributes[k]) for k in HOST_ATTRIBUTES if attributes.get(k) not in (None, "")), None)


def _otlp_request(rows: SpanRows, request: object, line_no: int, text: str) -> None:
    """Every span of one ``ExportTraceServiceRequest`` (one line of the collector's file exporter, ``text``)."""
    if not isinstance(request, dict) or not isinstance(request.get("resourceSpans", []), list):
        rows.reject(f"line {line_no}", line_no, record_text(request), "not an ExportTraceServiceRequest")
        return
    for r, resource_spans in enumerate(request.get("resourceSpans", [])):
        resource = resource_spans.get("resource", {}) if isinstance(resource_spans, dict) else {}
        attributes = _otlp_attributes(resource.get("attributes") if isinstance(resource, dict) else None)
        service, host = attributes.get("service.name"), _first_host(attributes)
        scopes = resource_spans.get("scopeSpans", []) if isinstance(resource_spans, dict) else []
        for s, scope in enumerate(scopes if isinstance(scopes, list) else []):
            spans = scope.get("spans", []) if isinstance(scope, dict) else []
            for n, span in enumerate(spans if isinstance(spans, list) else []):
                where = f"line {line_no} resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                if not isinstance(span, dict):
                    rows.reject(where, line_no, record_text(span), "a span must be a JSON object")
                    continue
                start, end = _int(span.get("startTimeUnixNano")), _int(span.get("endTimeUnixNano"))
                status = span.get("status") if isinstance(span.get("status"), dict) else {}
                fields = {
                    "trace_id": span.get("traceId"),
                    "span_id": span.get("spanId"),
                    "parent_id": span.get("parentSpanId"),
                    "service": service,
                    "host": host,
                    "operation": span.get("name"),
                    "start_us": start // 1000 if start else None,
                    "duration_us": (end - start) / 1000 if start and end else None,
                    "error": status.get("code") in _OTLP_STATUS_ERROR,
                }
                rows.add(where, line_no, (text, ("resourceSpans", r, "scopeSpans", s, "spans", n)), fields)


def read_otlp_json(path: Path, source: NamedSource) -> FileRead:
    """Read spans from an OpenTelemetry Collector file exporter's output (OTLP JSON, one request per line).

    Each non-blank line of ``path`` is one ``ExportTraceServiceRequest`` in the OTLP/JSON encoding [1]_:
    ``resourceSpans[].resource.attributes`` (``service.name``; the host from :data:`HOST_ATTRIBUTES`) and
    ``scopeSpans[].spans[]`` with hex ``traceId``/``spanId``/``parentSpanId``,
    ``startTimeUnixNano``/``endTimeUnixNano`` (strings or numbers) and ``status.code`` (2,
    ``STATUS_CODE_ERROR``, marks an error). Quarantined records name the line and the span's place in it
    (``line 3 resourceSpans[0].scopeSpans[0].spans[2]: ends before it starts``).

    References
    ----------
    .. [1] OpenTelemetry Protocol, "JSON Protobuf Encoding",
       https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding
    """
    rows = SpanRows(source, path)
    for batch in iter_line_batches(path):
        if isinstance(batch, FileProblem):
            rows.reject(f"line {batch.line_no}", batch.line_no, "", batch.reason)
            break
        for offset, raw_bytes in enumerate(batch.lines):
            line_no = batch.first_line_no + offset
            text = raw_bytes.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                request = json.loads(text)
            except json.JSONDecodeError as error:
                rows.reject(
                    f"line {line_no}", line_no, text, f"not JSON ({error.msg} at column {error.colno})"
                )
                continue
            _otlp_request(rows, request, line_no, text)
    return rows.result()


def _load_document(rows: SpanRows, path: Path) -> object | None:
    """The file's one JSON document, or None after quarantining why it cannot be read."""
    text, problem = file_text(path)
    if problem is not None:
        rows.reject("file", None, text[-2000:], f"{problem}; the JSON document is incomplete")
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        rows.reject("file", error.lineno, text[-2000:], f"not JSON ({error.msg} at line {error.lineno})")
        return None


def _jaeger_tags(tags: object) -> dict[str, object]:
    """``[{"key": k, "type": t, "value": v}]`` as ``{k: v}``."""
    return {
        str(tag.get("key")): tag.get("value")
        for tag in (tags if isinstance(tags, list) else [])
        if isinstance(tag, dict)
    }


def _jaeger_parent(span: dict) -> object:
    references = [r for r in span.get("references") or [] if isinstance(r, dict)]
    for kind in ("CHILD_OF", "FOLLOWS_FROM"):
        for reference in references:
            if reference.get("refType") == kind:
                return reference.get("spanID")
    return span.get("parentSpanID")


def _jaeger_trace(rows: SpanRows, trace: object, t: int) -> None:
    if not isinstance(trace, dict) or not isinstance(trace.get("spans"), list):
        rows.reject(f"data[{t}]", None, record_text(trace), "a trace needs a 'spans' list")
        return
    processes = trace.get("processes") if isinstance(trace.get("processes"), dict) else {}
    for n, span in enumerate(trace["spans"]):
        where = f"data[{t}].spans[{n}]"
        if not isinstance(span, dict):
            rows.reject(where, None, record_text(span), "a span must be a JSON object")
            continue
        process = span.get("process") or processes.get(span.get("processID"))
        if not isinstance(process, dict):
            reason = f"process {span.get('processID')!r} is not among the trace's processes"
            rows.reject(where, None, record_text(span), reason)
            continue
        tags = _jaeger_tags(span.get("tags"))
        start, duration = _int(span.get("startTime")), _int(span.get("duration"))
        fields = {
            "trace_id": span.get("traceID"),
            "span_id": span.get("spanID"),
            "parent_id": _jaeger_parent(span),
            "service": process.get("serviceName"),
            "host": _first_host(_jaeger_tags(process.get("tags"))),
            "operation": span.get("operationName"),
            "start_us": start,
            "duration_us": duration,
            "error": tags.get("error") in (True, "true") or tags.get("otel.status_code") == "ERROR",
        }
        rows.add(where, None, span, fields)


def read_jaeger_json(path: Path, source: NamedSource) -> FileRead:
    """Read spans from a Jaeger JSON export (the query API's ``/api/traces`` answer or the UI's download).

    ``path`` holds ``{"data": [trace, ...]}`` or a bare list of traces; a trace has ``spans[]``
    (``traceID``, ``spanID``, ``operationName``, ``references`` with ``CHILD_OF``, ``startTime`` and
    ``duration`` in µs, ``tags``, ``processID``) and ``processes`` (``serviceName``, ``tags``; the host from
    :data:`HOST_ATTRIBUTES`). A span is an error when its tag ``error`` is true or ``otel.status_code`` is
    ``ERROR``. Quarantined records name their place (``data[0].spans[3]: no start time``).
    """
    rows = SpanRows(source, path)
    document = _load_document(rows, path)
    if document is not None:
        traces = document.get("data") if isinstance(document, dict) else document
        if not isinstance(traces, list):
            rows.reject("file", None, record_text(document)[:2000], "expected {'data': [traces]} or a list")
        else:
            for t, trace in enumerate(traces):
                _jaeger_trace(rows, trace, t)
    return rows.result()


def read_zipkin_json(path: Path, source: NamedSource) -> FileRead:
    """Read spans from a Zipkin JSON v2 file: a list of spans (``/api/v2/trace/{id}``) or of such lists
    (``/api/v2/traces``).

    A span has ``traceId``, ``id``, ``parentId``, ``name``, ``timestamp`` and ``duration`` in µs,
    ``localEndpoint.serviceName`` (the host: ``localEndpoint.ipv4``/``ipv6``) and ``tags``; a tag
    ``error`` marks an error. Quarantined records are named by list position (``[1][4]: no duration``).
    """
    rows = SpanRows(source, path)
    document = _load_document(rows, path)
    if document is not None and not isinstance(document, list):
        rows.reject("file", None, record_text(document)[:2000], "expected a list of spans")
    elif document is not None:
        nested = any(isinstance(item, list) for item in document)
        groups = document if nested else [document]
        for g, group in enumerate(groups):
            for n, span in enumerate(group if isinstance(group, list) else [group]):
                where = f"[{g}][{n}]" if nested else f"[{n}]"
                if not isinstance(span, dict):
                    rows.reject(where, None, record_text(span), "a span must be a JSON object")
                    continue
                endpoint = span.get("localEndpoint") if isinstance(span.get("localEndpoint"), dict) else {}
                tags = span.get("tags") if isinstance(span.get("tags"), dict) else {}
                fields = {
                    "trace_id": span.get("traceId"),
                    "span_id": span.get("id"),
                    "parent_id": span.get("parentId"),
                    "service": endpoint.get("serviceName"),
                    "host": endpoint.get("ipv4") or endpoint.get("ipv6"),
                    "operation": span.get("name"),
                    "start_us": _int(span.get("timestamp")),
                    "duration_us": _int(span.get("duration")),
                    "error": "error" in tags,
                }
                rows.add(where, None, span, fields)
    return rows.result()
