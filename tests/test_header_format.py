"""Header formats: compile errors name the problem; split keeps every line and matches the Loghub labels."""

from __future__ import annotations

import polars as pl
import pytest

from logrca.parsers.ingest.header_format import compile_header, split_header

LINUX = r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>"


def test_fields_and_unmatched_lines_are_kept():
    fmt = compile_header("<Date> <Time> <Level> <Component>: <Content>")
    assert fmt.fields == ("Date", "Time", "Level", "Component", "Content")
    lines = pl.Series(["2024-01-01 10:00:00 INFO web: GET /a  took 5 ms ", "not a log line", ""])
    frame = split_header(lines, fmt)
    assert frame.columns == ["Date", "Time", "Level", "Component", "Content", "matched"]
    assert frame.height == 3
    assert frame.row(0) == ("2024-01-01", "10:00:00", "INFO", "web", "GET /a  took 5 ms", True)
    assert frame.row(1) == (None, None, None, None, None, False)
    assert frame["matched"].to_list() == [True, False, False]


def test_optional_group_and_bracketed_fields():
    fmt = compile_header(LINUX)
    frame = split_header(
        pl.Series(
            [
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass",
                "Jun  9 06:06:20 combo kernel: Linux up",
            ]
        ),
        fmt,
    )
    assert frame["Component"].to_list() == ["sshd(pam_unix)", "kernel"]
    assert frame["PID"].to_list() == ["19939", None]
    assert frame["Content"].to_list() == ["check pass", "Linux up"]
    apache = compile_header(r"\[<Time>\] \[<Level>\] <Content>")
    row = split_header(pl.Series(["[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok"]), apache).row(
        0, named=True
    )
    assert row["Time"] == "Sun Dec 04 04:47:44 2005" and row["Level"] == "notice"


def test_python_match_agrees_with_vectorized_split():
    fmt = compile_header(r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>")
    line = "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200"
    expected = fmt.match(line)
    assert expected is not None and expected["Content"] == "Notification time out: 3200"
    assert split_header(pl.Series([line]), fmt).drop("matched").row(0, named=True) == expected


def test_empty_input_has_schema():
    frame = split_header(pl.Series([], dtype=pl.Utf8), compile_header("<Level> <Content>"))
    assert frame.schema == pl.Schema({"Level": pl.Utf8, "Content": pl.Utf8, "matched": pl.Boolean})


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [
        ("<Date> <Time>", "no <Content>"),
        ("<Date> <Content", "unbalanced"),
        ("<Date> <> <Content>", "field name ''"),
        ("<Date> <Date> <Content>", "appears twice"),
        ("<1x> <Content>", "field name '1x'"),
        (r"<Date> [ <Content>", "not a valid regex"),
        ("", "empty"),
    ],
)
def test_bad_formats_raise_clear_errors(fmt, needle):
    with pytest.raises(ValueError, match=None) as error:
        compile_header(fmt)
    assert needle in str(error.value)


def test_loghub_samples_content_equals_labels(shared_data):
    root = shared_data / "loghub"
    cases = {
        "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
        "Linux": LINUX,
        "Apache": r"\[<Time>\] \[<Level>\] <Content>",
        "OpenStack": r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
    }
    for system, fmt in cases.items():
        lines = pl.Series((root / system / f"{system}_2k.log").read_text(errors="replace").splitlines())
        truth = pl.read_csv(root / system / f"{system}_2k.log_structured_corrected.csv", infer_schema=False)
        frame = split_header(lines, compile_header(fmt))
        assert frame["matched"].all(), system
        assert frame["Content"].to_list() == truth["Content"].str.strip_chars().to_list(), system


def test_split_content_equals_split_header(shared_data):
    from logrca import PROJECT_ROOT
    from logrca.parsers.ingest.header_format import split_content
    from logrca.parsers.templates.masking import load_masking_file

    tricky = [
        "",
        "   ",
        "garbage",
        "a\tb c d: e",
        "a b c d: e\nmore",
        "a b c x: y:\nz",
        "2024-01-01  10:00:00\tINFO web:   spaced  ",
        "w x y z:",
    ]
    for settings in sorted((PROJECT_ROOT / "bench" / "loghub_masking").glob("*.yaml")):
        fmt = compile_header(load_masking_file(settings)["format"])
        sample = (
            (shared_data / "loghub" / settings.stem / f"{settings.stem}_2k.log")
            .read_text(errors="replace")
            .splitlines()[:300]
        )
        lines = pl.Series(sample + tricky + [" \t" + sample[0] + "\t", sample[1] + "\n" + sample[2]])
        assert split_content(lines, fmt).equals(split_header(lines, fmt).select("Content", "matched")), (
            settings.stem
        )
    for fmt in (
        "<Content>",
        "<A><Content>",
        "<Date> <Content> end",
        "<Level>: <Content>",
    ):  # fallback formats too
        compiled = compile_header(fmt)
        lines = pl.Series(tricky + ["INFO: ok end"])
        assert split_content(lines, compiled).equals(
            split_header(lines, compiled).select("Content", "matched")
        ), fmt


def _loghub_regex(fmt: str) -> str:
    """logpai/logparser's ``generate_logformat_regex`` as written there: every field ``.*?``, anchored."""
    import re

    parts = re.split(r"(<[^<>]+>)", fmt)
    return (
        "^"
        + "".join(
            f"(?P<{part.strip('<>')}>.*?)" if index % 2 else re.sub(" +", r"\\s+", part)
            for index, part in enumerate(parts)
        )
        + "$"
    )


PROXIFIER = r"\[<Time>\] <Program> - <Content>"
PROXIFIER_LINES = [
    "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy proxy.cse.cuhk.edu.hk:5070 HTTPS",
    "[10.30 16:54:29] svchost.exe *64 - ocsp.digicert.com:80 close, 0 bytes sent, 0 bytes received, lifetime <1 sec",
    "[10.30 17:00:01] - empty program - and a dash",
    "[10.30 17:00:02] no dash here",
]


def test_fields_are_shortest_text_as_in_loghub():
    """A field may hold spaces or be empty: the program ``svchost.exe *64`` is not a reason to reject the line."""
    import re

    fmt = compile_header(PROXIFIER)
    frame = split_header(pl.Series(PROXIFIER_LINES), fmt)
    assert frame["Program"].to_list() == ["chrome.exe", "svchost.exe *64", "- empty program", None]
    assert frame["matched"].to_list() == [True, True, True, False]
    assert frame["Content"][1].startswith("ocsp.digicert.com:80 close")
    # line 3: "] " then " - " need a space each, so the program cannot be empty and runs to the second dash
    reference = re.compile(_loghub_regex(PROXIFIER))
    for line in PROXIFIER_LINES:
        found = reference.match(line.strip())
        assert fmt.match(line) == (None if found is None else found.groupdict()), line


@pytest.mark.parametrize(
    "fmt",
    [
        PROXIFIER,
        "<Date> <Time> <Level> <Component>: <Content>",
        LINUX,
        r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        "<Date> <Time>, <Level> <Component> <Content>",
    ],
)
def test_every_field_splits_as_loghubs_regex(fmt):
    """Same fields as logparser's regex on lines where whitespace-delimited fields would split elsewhere."""
    import re

    from logrca.parsers.ingest.header_format import split_content

    lines = [
        *PROXIFIER_LINES,
        "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505",
        "2016-09-28 04:30:31, Info CBS Ending TrustedInstaller initialization.",
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown",
        "Jun  9 06:06:20 combo kernel: Linux version 2.6.5-1.358 (bhcompile@bugs.build.redhat.com)",
        "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification",
        "a b c d: e f: g",
        "a  b: c",
    ]
    compiled, reference = compile_header(fmt), re.compile(_loghub_regex(fmt))
    frame = split_header(pl.Series(lines), compiled)
    for line, row in zip(lines, frame.iter_rows(named=True)):
        found = reference.match(line.strip())
        expected = None if found is None else found.groupdict()
        fields = {k: v for k, v in row.items() if k != "matched"}
        assert (fields if row["matched"] else None) == expected, (fmt, line)
    assert split_content(pl.Series(lines), compiled).equals(frame.select("Content", "matched"))


def _varied_lines(fmt: str, seed: int, count: int) -> list[str]:
    """Lines written to ``fmt`` that bend its plain layout every way: runs and kinds of whitespace,
    empty fields, the literals' characters inside fields, newlines, non-ASCII text."""
    import random
    import re

    rng = random.Random(seed)
    words = ["2026-03-10", "01:00:00,017", "INFO", "[worker-8]", "c.example.Handler", "a:b", "x]y", "é"]
    words += ["[", "]", ":", "-", "@", "", "sshd(pam_unix)[19939]", "a b", "a@b", "[a:b@7]", "ok\nx"]
    gaps = [" "] * 8 + ["  ", "\t", " \t", "\u00a0", "\u3000", "", "\n"]
    pieces = re.split(r"<([^<>]*)>", fmt)
    lines = []
    for _ in range(count):
        out = []
        for index, piece in enumerate(pieces):
            if index % 2:
                out.append(
                    rng.choice(["msg x", " msg", "", "a  b"]) if piece == "Content" else rng.choice(words)
                )
            else:
                literal = re.sub(r"\\(.)", r"\1", piece)
                out.append(re.sub(" +", lambda _: rng.choice(gaps), literal))
        lines.append("".join(out))
    return lines


@pytest.mark.parametrize(
    "fmt",
    [
        r"<Date> <Time> <Level> \[<Thread>\] <Component>: <Content>",
        r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        "<Date> <Time> <Pid> <Level> <Component>: <Content>",
        r"\[<Time>\] <Program> - <Content>",
        "<Level>:<Content>",
        "<Date> <Time>, <Level> <Component> <Content>",
        LINUX,
    ],
)
@pytest.mark.parametrize("ascii_only", [False, True])
def test_plain_layout_lines_split_as_the_formats_regex(fmt, ascii_only):
    """The one-pass path for plain lines (differential): every field as the format's own regex
    gives it, vectorized (the exact path) and line by line with Python's ``re``. Columns of ASCII
    only take the regex spelt with ASCII classes, here with ASCII whitespace and controls bent in."""
    from logrca.parsers.ingest.header_format import _split_exact
    from logrca.parsers.ingest.text_bytes import any_byte

    compiled = compile_header(fmt)
    lines = _varied_lines(fmt, 7, 3000)
    if ascii_only:
        bent = {"é": "\x7f", "\u00a0": "\x0b", "\u3000": "\x0c"}
        lines = ["".join(bent.get(char, char) for char in line) for line in lines]
        # Python's ``\s`` (the line-by-line check below) takes \x1c-\x1f, the Rust engine's does not:
        # lines holding them are compared with the exact path only
        odd = pl.Series([line.replace("\x7f", "\x1f") for line in lines])
        assert not any_byte(odd, at_least=0x80)
        assert split_header(odd, compiled).equals(_split_exact(odd.str.strip_chars(), compiled))
    series = pl.Series(lines)
    assert any_byte(series, at_least=0x80) != ascii_only
    frame = split_header(series, compiled)
    assert frame.equals(_split_exact(series.str.strip_chars(), compiled))
    for line, row in zip(lines, frame.iter_rows(named=True)):
        expected = compiled.match(line)
        assert ({k: v for k, v in row.items() if k != "matched"} if row["matched"] else None) == expected, (
            line
        )
