"""A stand-in for polars on the GPU machine (the real one's 40 MB runtime does not fit the
device tool's transfer limit). ultralytics' trainer only calls
``read_csv(bytes, infer_schema_length=None).to_dict(as_series=False)`` when it saves a
checkpoint; nothing else of polars runs in `factory compare` with plots off."""

import csv
import io
from pathlib import Path


class _Frame:
    def __init__(self, columns: dict):
        self._columns = columns

    def to_dict(self, as_series: bool = True) -> dict:
        return {name: list(values) for name, values in self._columns.items()}


def _value(text: str):
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def read_csv(source, infer_schema_length=None, **_) -> _Frame:
    text = source.decode() if isinstance(source, bytes) else Path(source).read_text()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return _Frame({})
    header = [name.strip() for name in rows[0]]
    columns = {name: [] for name in header}
    for row in rows[1:]:
        for name, cell in zip(header, row, strict=False):
            columns[name].append(_value(cell.strip()))
    return _Frame(columns)
