"""Whole-column looks at the UTF-8 bytes of a polars text column (numpy on its Arrow buffers).

A regex scan costs per row; these cost one pass over the bytes, so a reader can learn that a
column holds no control character or no non-ASCII text at all and skip a per-row check.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl


def utf8_blocks(text: pl.Series) -> Iterator[tuple[np.ndarray, np.ndarray] | None]:
    """Per Arrow chunk of ``text``: ``(offsets, data)``, the value boundaries and the bytes they index.

    ``data[offsets[i]:offsets[i + 1]]`` is value ``i`` of the chunk (a null value is empty); None
    for a chunk in another layout.
    """
    import pyarrow as pa

    array = text.to_arrow()
    for chunk in array.chunks if isinstance(array, pa.ChunkedArray) else [array]:
        if chunk.type not in (pa.large_string(), pa.string()):
            yield None
            continue
        _, offsets, data = chunk.buffers()
        width = np.int64 if chunk.type == pa.large_string() else np.int32
        bounds = np.frombuffer(offsets, width)[chunk.offset : chunk.offset + len(chunk) + 1]
        yield bounds, (np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8))


def any_byte(text: pl.Series, *, below: int = 0, at_least: int = 256) -> bool:
    """Whether some value of ``text`` holds a byte ``< below`` or ``>= at_least`` (True when unsure)."""
    for block in utf8_blocks(text):
        if block is None:
            return True
        bounds, data = block
        if len(bounds) < 2:
            continue
        values = data[bounds[0] : bounds[-1]]
        if (below > 0 and (values < below).any()) or (at_least < 256 and (values >= at_least).any()):
            return True
    return False
