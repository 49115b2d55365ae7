"""Pictures of a finding: real matplotlib PNGs, drawn from hand-built graphs and frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import networkx as nx
import polars as pl

from logrca.rca.changes import detect_changes
from logrca.rca.pictures import finding_pictures, per_minute_rates, service_map_png, template_rates_png

T0 = datetime(2031, 5, 4, 9, tzinfo=UTC)
WINDOW = (T0 + timedelta(hours=1), T0 + timedelta(hours=2))


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def events():
    rows = [(T0 + timedelta(minutes=m), "api", 1, "GET /x") for m in range(0, 120, 2)]
    rows += [(T0 + timedelta(minutes=70 + m), "db", 2, "lock timeout") for m in range(30)]
    rows += [(T0 + timedelta(minutes=68), "db", 3, "Deployed db 5.1.0")]
    rows.reverse()  # unsorted, as a concatenation of sources is
    frame = pl.DataFrame(rows, schema=["timestamp", "service", "template_id", "message"], orient="row")
    return frame.with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def test_service_map_is_a_png_even_for_services_outside_the_graph():
    graph = nx.DiGraph([("gw", "api"), ("api", "db"), ("api", "cache")])
    width, height = png_size(
        service_map_png(graph, {"db": 9.0, "api": 3.0, "lonely": 1.0}, ["db", "api", "gw"])
    )
    assert width > 400 and height > 300
    assert png_size(service_map_png(nx.DiGraph(), {}, []))[0] > 0


def test_template_rates_mark_changes_and_the_window():
    frame = events()
    png = template_rates_png(
        frame, [("db", 2, "lock timeout"), ("api", 1, "GET /x")], window=WINDOW, changes=detect_changes(frame)
    )
    assert png_size(png)[0] > 400


def test_finding_pictures_draw_the_top_evidence():
    finding = {
        "ranking": [
            {"service": "db", "anomaly_score": 4.0, "path": ["db", "api"], "evidence": [
                {"score": 9.0, "template_id": 2, "template": "lock timeout", "kind": "new_template"}]},
            {"service": "api", "anomaly_score": 1.0, "path": ["api"], "evidence": []},
        ]
    }  # fmt: skip
    pictures = finding_pictures(finding, nx.DiGraph([("api", "db")]), events(), window=WINDOW)
    assert set(pictures) == {"service-map", "template-rates"}
    no_templates = {"ranking": [dict(finding["ranking"][1], evidence=[])]}
    assert set(finding_pictures(no_templates, nx.DiGraph(), events(), window=WINDOW)) == {"service-map"}


def test_per_minute_rates_count_every_minute_from_an_unaligned_start():
    frame = events()
    rates = per_minute_rates(frame, "db", 2, start=T0 + timedelta(seconds=17), end=WINDOW[1])
    assert rates.height == 120 and rates["minute"][0] == T0
    by_minute = dict(rates.iter_rows())
    assert by_minute[T0 + timedelta(minutes=70)] == 1 and by_minute[T0 + timedelta(minutes=69)] == 0
    assert rates["lines"].sum() == 30


def test_a_picture_is_drawn_once_to_the_pixels_of_tight_layout_then_savefig():
    import io

    from PIL import Image, ImageChops

    from logrca.rca.pictures import _figure, _png

    def drawn():
        fig, ax = _figure(6.0, 3.0)
        ax.plot([0, 1, 2], [3, 1, 2], label="a long label for the legend")
        ax.set_title("a title")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
        fig.colorbar(ax.scatter([0, 1], [1, 2], c=[0.1, 0.9]), ax=ax)
        return fig

    fig = drawn()
    fig.tight_layout()
    plain = io.BytesIO()
    fig.savefig(plain, format="png")
    once = Image.open(io.BytesIO(_png(drawn()))).convert("RGBA")
    assert ImageChops.difference(once, Image.open(plain).convert("RGBA")).getbbox() is None


def test_pictures_drawn_on_the_worker_thread_are_those_drawn_alone():
    """The pipeline draws while it reads; the PNGs are the pixels of each picture drawn by itself."""
    import threading

    from logrca.rca.pictures import PictureDrawing

    ranking = [
        {"service": "db", "anomaly_score": 4.0, "path": ["db", "api"], "evidence": [
            {"score": 9.0, "template_id": 2, "template": "lock timeout", "kind": "new_template"},
            {"score": 3.0, "template_id": 3, "template": None, "kind": "change"}]},
        {"service": "api", "anomaly_score": 1.0, "path": ["api"], "evidence": [
            {"score": 5.0, "template_id": 1, "template": "GET /x", "kind": "rate_spike"}]},
    ]  # fmt: skip
    graph, frame = nx.DiGraph([("api", "db")]), events()
    drawing = PictureDrawing(ranking)
    drawing.service_map(graph)
    drawing.template_rates(frame, window=WINDOW, changes=detect_changes(frame), templates=2)
    workers = {t.name for t in threading.enumerate() if t.name.startswith("logrca-pictures")}
    drawn = drawing.result()
    assert workers, "the drawing runs on its worker thread"
    alone = {
        "service-map": service_map_png(graph, {"db": 4.0, "api": 1.0}, ["db", "api"]),
        "template-rates": template_rates_png(
            frame,
            [("db", 2, "lock timeout"), ("api", 1, "GET /x")],
            window=WINDOW,
            changes=detect_changes(frame),
        ),
    }
    assert drawn == alone
