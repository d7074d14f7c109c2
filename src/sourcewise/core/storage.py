"""Files in storage: uploads streamed in while hashed, renamed into place only when whole.

Every app that keeps a file (deliveries, research attachments, due-diligence evidence) stores
it through here, so a 2 GB upload never sits in memory and a refused one leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

CHUNK = 1024 * 1024


def storage_root() -> Path:
    return Path(settings.STORAGE_ROOT)


def path_of(relative_path: str) -> Path:
    """The absolute path of a stored file's relative name."""
    return storage_root() / relative_path


def chunks(stream) -> Iterator[bytes]:
    """Blocks of an uploaded file (Django's `chunks()`) or of any readable binary stream."""
    if hasattr(stream, "chunks"):
        yield from stream.chunks(CHUNK)
        return
    while True:
        block = stream.read(CHUNK)
        if not block:
            return
        yield block


@dataclass
class StoredFile:
    """The outcome of streaming one upload into storage."""

    relative_path: str = ""
    size: int = 0
    sha256: str = ""
    too_large: bool = False
    gzip_ok: bool | None = None
    head: bytes = b""
    tail: bytes = b""
    problems: list[str] = field(default_factory=list)


def stream_to_storage(stream, *, directory: str, suffix: str, compressed: bool, limit: int) -> StoredFile:
    """Copy `stream` into STORAGE_ROOT/directory in chunks, hashing as it goes.

    It is written under a temporary name and renamed only when complete and within
    `limit`: a failed or refused upload leaves nothing behind. A gzip file is
    decompressed on the way (and thrown away) to prove it is whole.
    """
    target_dir = storage_root() / directory
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}{suffix}"
    part = target_dir / f".{name}.part"
    out = StoredFile()
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if compressed else None
    gzip_error = None
    try:
        with open(part, "wb") as fh:
            for block in chunks(stream):
                out.size += len(block)
                if out.size > limit:
                    out.too_large = True
                    # Keep reading (the client is still sending) but store nothing more.
                    continue
                digest.update(block)
                fh.write(block)
                if len(out.head) < 4096:
                    out.head += block[: 4096 - len(out.head)]
                out.tail = (out.tail + block)[-4096:]
                if inflater is not None and gzip_error is None:
                    try:
                        # Bounded output: only proving it inflates, not keeping it.
                        inflater.decompress(block, CHUNK)
                        while inflater.unconsumed_tail:
                            inflater.decompress(inflater.unconsumed_tail, CHUNK)
                        if inflater.eof and inflater.unused_data:
                            inflater = _next_member(inflater)
                    except zlib.error as exc:
                        gzip_error = str(exc)
            fh.flush()
            os.fsync(fh.fileno())
        if out.too_large:
            part.unlink(missing_ok=True)
            return out
        if inflater is not None:
            out.gzip_ok = gzip_error is None and inflater.eof
        out.sha256 = digest.hexdigest()
        final = target_dir / name
        os.replace(part, final)
        out.relative_path = str(final.relative_to(storage_root()))
        return out
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _next_member(inflater):
    """A gzip file may hold several members one after another."""
    rest = inflater.unused_data
    nxt = zlib.decompressobj(16 + zlib.MAX_WBITS)
    nxt.decompress(rest, CHUNK)
    return nxt


def discard(relative_path: str) -> None:
    if relative_path:
        (storage_root() / relative_path).unlink(missing_ok=True)
