"""Delivery files: their formats, inspected once stored (core.storage), and read back for downloads.

Everything here works in chunks so a 2 GB delivery never sits in the web process's memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from sourcewise.core.storage import StorageUploadHandler, StoredFile

SUFFIXES = {
    ".parquet": ("parquet", False),
    ".csv": ("csv", False),
    ".csv.gz": ("csv", True),
    ".jsonl": ("jsonl", False),
    ".jsonl.gz": ("jsonl", True),
}
# The engine reads .parquet, .csv, .csv.gz and .jsonl; a .jsonl.gz is kept as delivered and
# the engine reads its decompressed working copy (`decompress_copy`).
ACCEPTED_NAMES = ".parquet, .csv, .csv.gz, .jsonl or .jsonl.gz"
# Compressed formats the engine does not read itself: they get a decompressed working copy.
NEEDS_WORKING_COPY = {"jsonl"}


def decompress_copy(path: Path, limit: int) -> Path:
    """Stream-decompress a stored `X.jsonl.gz` into its sibling `X.jsonl`, the engine's working copy.

    The delivered file is not touched (it is the evidence); the copy is written under a
    temporary name in 1 MB blocks and renamed when whole, so a half-written copy never
    stands in for a delivery. A copy that would exceed `limit` bytes (a small gzip can
    inflate to fill the disk) is abandoned with FileProblem.
    """
    name = path.name[: -len(".gz")] if path.name.lower().endswith(".gz") else path.name + ".out"
    target = path.with_name(name)
    part = path.with_name(f".{name}.part")
    try:
        with gzip.open(path, "rb") as src, open(part, "wb") as dst:
            written = 0
            while block := src.read(1024 * 1024):
                written += len(block)
                if written > limit:
                    raise FileProblem(f"The file decompresses to more than the limit of {limit:,} bytes "
                                      "(UPLOAD_MAX_EXPANDED_BYTES); it was kept as delivered but not checked.")
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return target


# Where page and API uploads are written while the request arrives (renamed into
# deliveries/ by the service): inside Sourcewise's own uploads/ folder, same file system.
INCOMING = "uploads/incoming"


def upload_handler(request, limit: int) -> StorageUploadHandler:
    """The upload handler of the delivery upload routes: each file written once, into storage."""
    return StorageUploadHandler(request, directory=INCOMING, limit=limit,
                                compressed=lambda name: bool((format_of(name) or ("", False))[1]))


class FileProblem(Exception):
    """A delivery file that cannot be accepted; the message says why in the user's words."""


def format_of(name: str) -> tuple[str, bool] | None:
    lower = name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return SUFFIXES[suffix]
    return None


DUCKDB_TYPES = {
    "TINYINT": "integer", "SMALLINT": "integer", "INTEGER": "integer", "BIGINT": "integer",
    "HUGEINT": "integer", "UTINYINT": "integer", "USMALLINT": "integer", "UINTEGER": "integer",
    "UBIGINT": "integer", "FLOAT": "float", "DOUBLE": "float", "REAL": "float",
    "VARCHAR": "string", "BOOLEAN": "boolean", "DATE": "date",
}


def contract_type(duckdb_type: str) -> str:
    """DuckDB's type of a column in the contract's words."""
    t = duckdb_type.upper()
    if t.startswith("DECIMAL"):
        return "float"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return DUCKDB_TYPES.get(t, t.lower())


def _reader(fmt: str) -> str:
    return {"parquet": "read_parquet", "csv": "read_csv", "jsonl": "read_json"}[fmt]


def inspect_file(path: Path, fmt: str, compressed: bool, stored: StoredFile) -> dict[str, str]:
    """The columns of a stored delivery; FileProblem naming what is wrong with it.

    Cheap checks first (empty, magic numbers, a whole gzip stream), then the column
    list from the Parquet footer or DuckDB's sniffing of the first rows.
    """
    if stored.size == 0:
        raise FileProblem("The file is empty.")
    head, tail = stored.head, stored.tail
    if compressed:
        if head[:2] != b"\x1f\x8b":
            raise FileProblem("The name ends in .gz but the file is not gzip-compressed.")
        if not stored.gzip_ok:
            raise FileProblem("The gzip file is truncated or damaged: it does not decompress to the end.")
        with gzip.open(path, "rb") as fh:
            head = fh.read(4096)
        if not head.strip():
            raise FileProblem("The file is empty once decompressed.")
    elif head[:2] == b"\x1f\x8b":
        raise FileProblem("The file is gzip-compressed but its name does not end in .gz.")
    if fmt == "parquet":
        if head[:4] != b"PAR1":
            raise FileProblem("The name says Parquet but the file is not a Parquet file.")
        if tail[-4:] != b"PAR1":
            raise FileProblem("The Parquet file is truncated: its footer is missing.")
    else:
        if head[:4] == b"PAR1":
            raise FileProblem(f"The name says {fmt.upper()} but the file is a Parquet file.")
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a character cut by the 4 KB window is fine
                raise FileProblem(f"The file is not UTF-8 text (byte {exc.start + 1}).") from None
            text = head[: exc.start].decode("utf-8")
        if not text.strip():
            raise FileProblem("The file has no content.")
        if fmt == "jsonl":
            first = text.splitlines()[0]
            try:
                if not isinstance(json.loads(first), dict):
                    raise ValueError
            except ValueError:
                raise FileProblem("The first line is not a JSON object: the file is not JSON Lines.") from None
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads TO 1")
        # The reader comes from a fixed list and the path is a bound parameter.
        rows = con.execute(f"DESCRIBE SELECT * FROM {_reader(fmt)}($1)", [str(path)]).fetchall()  # noqa: S608
    except duckdb.Error as exc:
        raise FileProblem(f"The file cannot be read as {fmt.upper()}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    if not rows:
        raise FileProblem("The file has no columns.")
    return {name: contract_type(kind) for name, kind, *_ in rows}


def schema_problems(found: dict[str, str], expected: dict[str, str]) -> list[str]:
    """How the columns found differ from the feed's expected schema."""
    problems = []
    for column, kind in expected.items():
        if column not in found:
            problems.append(f"column '{column}' is missing")
        elif found[column] != kind and not (kind == "float" and found[column] == "integer"):
            problems.append(f"column '{column}' is {found[column]}, the feed expects {kind}")
    return problems


def iter_parquet_rows(path: Path, columns: list[str] | None = None) -> Iterator[dict]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=8192, columns=columns):
        yield from batch.to_pylist()


def parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(path).schema_arrow.names)


def head_rows(path: Path, n: int, columns: list[str] | None = None) -> list[dict]:
    rows = []
    for row in iter_parquet_rows(path, columns):
        rows.append(row)
        if len(rows) >= n:
            break
    return rows


def distinct_keys(path: Path, columns: list[str]) -> Iterator[tuple]:
    """Each distinct value of `columns` in a Parquet file, sorted, read out of core by DuckDB."""
    import duckdb

    present = [c for c in columns if c in parquet_columns(path)]
    if not present:
        return
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in present)
    con = duckdb.connect()
    try:
        # Only column names the file itself has reach the query, quoted as identifiers.
        cursor = con.execute(
            f"SELECT DISTINCT {cols} FROM read_parquet($1) ORDER BY ALL", [str(path)]  # noqa: S608
        )
        while True:
            batch = cursor.fetchmany(8192)
            if not batch:
                return
            yield from batch
    finally:
        con.close()


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text one line at a time, for a streaming response."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(["" if v is None else v for v in row])


def parquet_as_csv(path: Path) -> Iterator[str]:
    columns = parquet_columns(path)
    return csv_lines(columns, ([row[c] for c in columns] for row in iter_parquet_rows(path)))


def bytes_io(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
