"""Files in storage: uploads streamed in while hashed, renamed into place only when whole.

Every app that keeps a file (deliveries, research attachments, due-diligence evidence) stores
it through here, so a 2 GB upload never sits in memory and a refused one leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

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


class StorageWriter:
    """One file arriving in STORAGE_ROOT/directory, block by block, under a temporary `.part` name.

    Each block is hashed (SHA-256) and counted against `limit`: past it nothing more is
    stored but the count goes on, so the outcome says `too_large` with the size seen. The
    first and last 4 KB are kept for inspection, and a gzip file is decompressed on the way
    (and thrown away) to prove it is whole. `finish()` closes the file (removing it when
    too large); `commit()` renames it into place; `abort()` removes whatever was written.
    `stream_to_storage` and `StorageUploadHandler` both write through this.
    """

    def __init__(self, *, directory: str, suffix: str, compressed: bool, limit: int) -> None:
        self.directory, self.suffix, self.limit = directory, suffix, limit
        target_dir = storage_root() / directory
        target_dir.mkdir(parents=True, exist_ok=True)
        self.name = f"{uuid.uuid4().hex}{suffix}"
        self.part = target_dir / f".{self.name}.part"
        self.out = StoredFile()
        self.finished = self.committed = False
        self._digest = hashlib.sha256()
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if compressed else None
        self._gzip_error: str | None = None
        self._fh = open(self.part, "wb")  # noqa: SIM115 - closed by finish() or abort()

    def write(self, block: bytes) -> None:
        out = self.out
        out.size += len(block)
        if out.size > self.limit:
            out.too_large = True
            # The client is still sending: keep counting but store nothing more.
            return
        self._digest.update(block)
        self._fh.write(block)
        if len(out.head) < 4096:
            out.head += block[: 4096 - len(out.head)]
        out.tail = (out.tail + block)[-4096:]
        if self._inflater is not None and self._gzip_error is None:
            try:
                # Bounded output: only proving it inflates, not keeping it.
                self._inflater.decompress(block, CHUNK)
                while self._inflater.unconsumed_tail:
                    self._inflater.decompress(self._inflater.unconsumed_tail, CHUNK)
                if self._inflater.eof and self._inflater.unused_data:
                    self._inflater = _next_member(self._inflater)
            except zlib.error as exc:
                self._gzip_error = str(exc)

    def finish(self) -> StoredFile:
        """Every block has arrived: flush it to disk; a file over the limit is removed here."""
        if self.finished:
            return self.out
        self.finished = True
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        if self.out.too_large:
            self.part.unlink(missing_ok=True)
            return self.out
        if self._inflater is not None:
            self.out.gzip_ok = self._gzip_error is None and self._inflater.eof
        self.out.sha256 = self._digest.hexdigest()
        return self.out

    def commit(self, *, directory: str | None = None, suffix: str | None = None) -> StoredFile:
        """Rename the whole file into place (optionally into another directory or with another suffix)."""
        out = self.finish()
        if out.too_large or self.committed:
            return out
        target_dir = storage_root() / (directory if directory is not None else self.directory)
        target_dir.mkdir(parents=True, exist_ok=True)
        name = self.name if suffix is None else self.name[: len(self.name) - len(self.suffix)] + suffix
        final = target_dir / name
        os.replace(self.part, final)
        self.committed = True
        out.relative_path = str(final.relative_to(storage_root()))
        return out

    def abort(self) -> None:
        """Remove what was written (nothing once committed)."""
        if not self._fh.closed:
            self._fh.close()
        self.finished = True
        if not self.committed:
            self.part.unlink(missing_ok=True)


def stream_to_storage(stream, *, directory: str, suffix: str, compressed: bool, limit: int) -> StoredFile:
    """Copy `stream` into STORAGE_ROOT/directory in chunks, hashing as it goes.

    It is written under a temporary name and renamed only when complete and within
    `limit`: a failed or refused upload leaves nothing behind. A gzip file is
    decompressed on the way (and thrown away) to prove it is whole.
    """
    writer = StorageWriter(directory=directory, suffix=suffix, compressed=compressed, limit=limit)
    try:
        for block in chunks(stream):
            writer.write(block)
        out = writer.finish()
        if out.too_large:
            return out
        return writer.commit()
    except BaseException:
        writer.abort()
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


# -- uploads written once --------------------------------------------------------------------


class StoredUpload(UploadedFile):
    """A file of a request, already written into storage by `StorageUploadHandler`.

    The service takes it with `adopt()`, which renames it into place: the bytes are
    written once. Until then it reads like any uploaded file; closed without being
    adopted (the request ends, the form was refused), its `.part` file is removed.
    """

    def __init__(self, writer: StorageWriter, *, name: str, content_type: str | None, size: int,
                 charset: str | None, content_type_extra: dict | None) -> None:
        self.writer = writer
        stored = writer.out
        handle = open(writer.part, "rb") if not stored.too_large else io.BytesIO(b"")  # noqa: SIM115
        super().__init__(handle, name, content_type, size, charset, content_type_extra)

    @property
    def stored(self) -> StoredFile:
        return self.writer.out

    def adopt(self, *, directory: str, suffix: str) -> StoredFile:
        """Rename the stored upload into STORAGE_ROOT/directory; over the limit, nothing is kept."""
        if not self.file.closed:
            self.file.close()
        return self.writer.commit(directory=directory, suffix=suffix)

    def close(self) -> None:
        try:
            if not self.file.closed:
                self.file.close()
        finally:
            self.writer.abort()


class StorageUploadHandler(FileUploadHandler):
    """Writes each uploaded file straight into STORAGE_ROOT/directory while hashing it.

    Django's default handlers hold an upload in memory or spool it to a temporary file
    that then has to be copied into storage; this one writes it once, through
    `StorageWriter` (the limit, the hash, head and tail, the gzip check), and hands the
    view a `StoredUpload` to adopt. `compressed(file_name)` says whether a name is gzip.
    Install it before the request body is read, and call `cleanup()` when the view is
    done: a file not adopted by then, or cut off by a broken request, is removed.
    """

    def __init__(self, request=None, *, directory: str, limit: int,
                 compressed: Callable[[str], bool] = lambda name: False) -> None:
        super().__init__(request)
        self.directory, self.limit, self.compressed = directory, limit, compressed
        self.writer: StorageWriter | None = None
        self.writers: list[StorageWriter] = []

    def new_file(self, field_name, file_name, content_type, content_length, charset=None,
                 content_type_extra=None) -> None:
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        suffix = "".join(Path(os.path.basename(file_name or "")).suffixes[-2:]).lower()[:20]
        self.writer = StorageWriter(directory=self.directory, suffix=suffix,
                                    compressed=bool(self.compressed(file_name or "")), limit=self.limit)
        self.writers.append(self.writer)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.writer.write(raw_data)
        return None  # the data goes no further down the handler chain

    def file_complete(self, file_size: int) -> StoredUpload:
        writer, self.writer = self.writer, None
        writer.finish()
        return StoredUpload(writer, name=self.file_name, content_type=self.content_type, size=file_size,
                            charset=self.charset, content_type_extra=self.content_type_extra)

    def upload_interrupted(self) -> None:
        """The request ended inside a file (the client went away): nothing of it is kept."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def cleanup(self) -> None:
        """Remove every file of this request that was not adopted."""
        for writer in self.writers:
            writer.abort()
