"""Find a source's files (globs, rotation, .gz) and read them as batches of raw lines."""

from __future__ import annotations

import errno
import glob
import os
import re
import zlib
from codecs import BOM_UTF8
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_ROTATION = re.compile(r"\.(\d+)(\.gz)?$")
_GLOB_CHARS = set("*?[")
#: The first two bytes of a gzip stream.
GZIP_MAGIC = b"\x1f\x8b"


#: A ``\\r`` that ends a line on its own (old Mac files, some Windows tools): not part of a ``\\r\\n``,
#: and not the last byte of a block (a ``\\n`` may follow in the next; a file's last ``\\r`` is stripped).
_LONE_CR = re.compile(rb"\r(?!\n|\Z)")


def has_lone_cr(block: bytes) -> bool:
    """Whether ``block`` holds a lone ``\\r`` (:data:`_LONE_CR`): two byte counts, no regex, so a
    block without ``\\r``, or with ``\\r\\n`` only, is told at C speed."""
    return b"\r" in block and block.count(b"\r") - block.endswith(b"\r") != block.count(b"\r\n")


def lone_cr_as_lf(block: bytes) -> bytes:
    """``block`` with each lone ``\\r`` made a ``\\n``: it ends a line, as Python's universal newlines
    have it; a ``\\r\\n`` stays as it is (one line end, its ``\\r`` stripped with the line)."""
    return _LONE_CR.sub(b"\n", block) if has_lone_cr(block) else block


def split_lines(block: bytes) -> list[bytes]:
    """The lines of ``block`` without their ends (``\\n``, ``\\r\\n`` or a lone ``\\r``)."""
    return [line.removesuffix(b"\r") for line in lone_cr_as_lf(block).split(b"\n")]


class LineBatch:
    """Consecutive raw lines of one file: ``lines[i]`` is line ``first_line_no + i`` (1-based).

    Held as one block of bytes (``data``: the lines joined by ``\\n``, a ``\\r`` before it still
    there), so a reader can decode and split a whole batch at once; ``lines`` splits it on first use.
    A lone ``\\r`` in ``data`` is a line end too (:func:`iter_line_batches` gives none).
    """

    __slots__ = ("path", "first_line_no", "_data", "_lines")

    def __init__(
        self, path: Path, first_line_no: int, lines: list[bytes] | None = None, *, data: bytes | None = None
    ):
        if (lines is None) == (data is None):
            raise TypeError("LineBatch takes either lines or data")
        self.path, self.first_line_no, self._lines, self._data = path, first_line_no, lines, data

    @property
    def lines(self) -> list[bytes]:
        """The raw lines, line endings stripped."""
        if self._lines is None:
            self._lines = split_lines(self._data)
        return self._lines

    @property
    def data(self) -> bytes:
        """The lines joined by ``\\n`` (each may still end in ``\\r``)."""
        if self._data is None:
            self._data = b"\n".join(self._lines)
        return self._data

    def __len__(self) -> int:
        if self._lines is not None:
            return len(self._lines)
        return len(self.lines) if has_lone_cr(self._data) else self._data.count(b"\n") + 1


#: How a :class:`FileProblem`'s ``reason`` begins: the file ends inside its gzip stream, or holds
#: bytes the decompressor cannot read. Either way the lines after it are lost in the file itself.
FILE_PROBLEM_KINDS = ("truncated gzip stream", "unreadable data")
#: A reason (a file record's note, or a quarantine row's reason, which span and metric readers begin
#: with ``line N: ``) that tells of a :class:`FileProblem`.
FILE_PROBLEM_REASON = rf"^(?:line \d+: )?(?:{'|'.join(map(re.escape, FILE_PROBLEM_KINDS))})"


@dataclass
class FileProblem:
    """A problem with a file: it ended early (truncated gzip), or could not be read at all.

    ``raw`` holds the bytes of a line cut off by the problem (the partial last line of a truncated
    gzip stream); it is a line read, and is quarantined with ``reason`` instead of becoming an event.
    ``line_no`` is that line's number, or the number after the last line read.
    """

    path: Path
    line_no: int
    reason: str
    raw: bytes | None = None


def file_state(path: Path) -> str:
    """``inode:size:mtime_ns`` of a file: changes when it is rewritten or grows, not when it is renamed."""
    stat = path.stat()
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


def source_file_states(patterns_by_source: list[list[str]], base_dir: Path) -> dict[str, str]:
    """:func:`file_state` of every file the sources' globs match now (sources or files that vanish are skipped)."""
    states = {}
    for patterns in patterns_by_source:
        try:
            paths = resolve_paths(patterns, base_dir)
        except OSError:
            continue
        for path in paths:
            try:
                states[str(path)] = file_state(path)
            except FileNotFoundError:
                continue
    return states


def resolve_paths(patterns: list[str], base_dir: Path) -> list[Path]:
    """Expand globs (relative to ``base_dir``) into files, oldest rotation first.

    ``app.log.2.gz, app.log.1, app.log`` come out in that order so lines keep their time order.
    A pattern without glob characters that names no file raises ``FileNotFoundError``. Links whose
    target is missing (or that loop) are left out here; :func:`find_files` reports them.
    """
    return find_files(patterns, base_dir)[0]


def find_files(patterns: list[str], base_dir: Path) -> tuple[list[Path], list[FileProblem]]:
    """:func:`resolve_paths`, plus a :class:`FileProblem` for each link that leads to no file (its
    target is missing, or a loop of links) and each glob that matches nothing.

    A broken link is named with its target (``app.log -> /mnt/gone/app.log``), whether a glob found
    it or the pattern names it, so a run reports it instead of skipping it or failing on it.
    """
    found: dict[Path, None] = {}
    problems: list[FileProblem] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
        matches, broken = [], 0
        for match in map(Path, glob.glob(full, recursive=True)):
            if match.is_symlink() and not match.exists():
                problems.append(FileProblem(match, 0, _link_problem(match)))
                broken += 1
            elif match.is_file():
                matches.append(match)
        if not matches and not broken and not (_GLOB_CHARS & set(pattern)):
            raise FileNotFoundError(f"log file not found: {full}")
        if not matches and not broken:
            folder = _fixed_folder(full)
            where = "" if folder.is_dir() else f" (folder {folder} does not exist)"
            problems.append(FileProblem(Path(full), 0, f"no file matches this pattern{where}"))
        for match in matches:
            found[match.resolve()] = None

    def rotation_key(path: Path) -> tuple[str, int]:
        name = path.name
        rotation = _ROTATION.search(name)
        if rotation:
            return (name[: rotation.start()], -int(rotation.group(1)))
        return (name.removesuffix(".gz"), 0)

    return sorted(found, key=lambda p: (str(p.parent), *rotation_key(p))), problems


#: How the reason for a link that leads to no file begins: its target is missing, or its links lead
#: back round (``a -> b -> a``), so that there is no file at their end.
LINK_PROBLEMS = ("link target missing", "symbolic link loop")


def _link_problem(link: Path) -> str:
    """Why ``link`` leads to no file (:data:`LINK_PROBLEMS`), with its target as written."""
    missing, loop = LINK_PROBLEMS
    try:
        os.stat(link)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return (
                f"{loop}: {link.name} -> {os.readlink(link)} (the links lead back round; no file at the end)"
            )
    return f"{missing}: {link.name} -> {os.readlink(link)}"


def _fixed_folder(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard."""
    fixed = []
    for part in Path(pattern).parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _gzip_blocks(path: Path, block: int = 1 << 20) -> Iterator[bytes]:
    """Decompressed blocks of a (possibly multi-member) gzip file.

    Unlike ``gzip.open``, everything before a cut is yielded; a stream that ends early raises
    ``EOFError`` only after that, and corrupt data raises ``zlib.error``.
    """
    with path.open("rb") as raw:
        decoder, fed = zlib.decompressobj(16 + zlib.MAX_WBITS), False
        while compressed := raw.read(block):
            while compressed:
                fed = True
                if data := decoder.decompress(compressed):
                    yield data
                compressed = b""
                if decoder.eof:
                    compressed = decoder.unused_data
                    decoder, fed = zlib.decompressobj(16 + zlib.MAX_WBITS), False
        if fed and not decoder.eof:
            if tail := decoder.flush():
                yield tail
            raise EOFError("compressed stream ended before the end-of-stream marker")


def _plain_blocks(path: Path, block: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as raw:
        while chunk := raw.read(block):
            yield chunk


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    return _without_bom(_gzip_blocks(path) if magic == GZIP_MAGIC else _plain_blocks(path))


def _without_bom(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """``blocks`` without a UTF-8 byte-order mark at the start (editors on Windows write one), which
    would otherwise stay in the first line and spoil its timestamp."""
    blocks, head = iter(blocks), b""
    try:
        for block in blocks:
            head += block
            if len(head) >= len(BOM_UTF8):
                break
    except (EOFError, zlib.error, OSError):
        if head:  # the stream broke within its first bytes: they are still the file's
            yield head
        raise
    if head:
        yield head.removeprefix(BOM_UTF8)
    yield from blocks


#: Bytes of a file read and parsed at once (memory follows it, not the file).
BATCH_BYTES = 32 << 20


def iter_line_batches(path: Path, *, batch_bytes: int = BATCH_BYTES) -> Iterator[LineBatch | FileProblem]:
    """Yield the file's lines in batches of about ``batch_bytes``; gzip is detected by its magic bytes.

    A truncated or corrupt gzip stream yields the whole lines read so far, then a :class:`FileProblem`
    instead of raising, so the caller can record it; a line cut off by the end of the stream is not
    yielded as a line but travels in the problem's ``raw`` (it is quarantined, never an event). Line
    endings (``\\n``, ``\\r\\n``, a lone ``\\r``) are stripped; a batch's ``data`` holds each lone ``\\r``
    as ``\\n`` (a ``\\r`` ending a block waits for the next one, which may begin with its ``\\n``).
    """
    line_no = 1
    remainder = b""
    pending: list[bytes] = []
    pending_size = 0

    def flush() -> Iterator[LineBatch]:
        nonlocal remainder, pending, pending_size, line_no
        block = remainder + b"".join(pending)
        pending, pending_size = [], 0
        block = lone_cr_as_lf(block)  # a \r ending it stays in the remainder: a \n may follow
        cut = block.rfind(b"\n")
        if cut < 0:
            remainder = block
            return
        remainder = block[cut + 1 :]
        batch = LineBatch(path, line_no, data=block[:cut])
        yield batch
        line_no += len(batch)

    try:
        for chunk in _blocks(path):
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= batch_bytes:
                yield from flush()
        yield from flush()
    except (EOFError, zlib.error, OSError) as error:
        yield from flush()
        truncated, unreadable = FILE_PROBLEM_KINDS
        kind = truncated if isinstance(error, EOFError) else f"{unreadable} ({error})"
        if remainder:
            reason = f"{kind}: line {line_no} is cut off where the file ends; later lines are lost in the file itself"
            yield FileProblem(path, line_no, reason, raw=remainder.removesuffix(b"\r"))
            return
        reason = f"{kind}: file ends early after line {line_no - 1}; later lines are lost in the file itself"
        yield FileProblem(path, line_no, reason)
        return
    if remainder:
        yield LineBatch(path, line_no, data=remainder)
