"""Reading a file the user names, whatever it turns out to be: a regular file, a device such as
/dev/zero or /dev/urandom, a pipe that never ends.

A device's `st_size` is 0, so a size checked before reading proves nothing: text is read in
chunks and never more than the bound's bytes (plus one, to tell that there was more). Each chunk
is checked as it arrives: a NUL byte is in no text file, so /dev/zero and /dev/urandom are refused
after their first chunk, not after the bound. The text must be UTF-8. A binary archive (a
checkpoint) needs seeking, so it must be a regular file, whose size is known. Every error names
the file, and the line and column where there is one.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..front.errors import PPLError, Source, Span

CHUNK = 1 << 20
UTF8 = "save it as UTF-8 text"


def read_text(path: str | Path, most: int, what: str, error: type[PPLError] = PPLError,
              hint: str | None = None) -> str:
    """The UTF-8 text of the `what` file (`model`, `data`, ...) at `path`, of at most `most`
    bytes; else an `error` naming it and the limit (`hint` says what to do about a large one)."""
    raw = bytearray()
    try:
        with open(path, "rb", buffering=0) as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > most:
                raise error(f"the {what} file is {info.st_size:,} bytes; the limit is {most:,}",
                            source=Source("", str(path)), hint=hint)
            while len(raw) <= most:
                start = len(raw)
                raw += f.read(min(CHUNK, most + 1 - start))
                if len(raw) == start:
                    break
                nul = raw.find(b"\0", start)
                if nul >= 0:
                    raise _at(error, path, raw, nul, f"the {what} file holds a NUL byte, so it is not text")
    except OSError as err:
        raise error(f"cannot read {what} file: {err.strerror or err}", source=Source("", str(path))) from None
    if len(raw) > most:
        raise error(f"the {what} file holds more than {most:,} bytes, the limit (is it a device or a pipe "
                    "that never ends?)", source=Source("", str(path)), hint=hint)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _at(error, path, raw, err.start, f"the {what} file is not UTF-8 text: byte 0x{raw[err.start]:02x} "
                  f"at offset {err.start:,} ({err.reason})") from None


def _at(error, path, raw: bytearray, offset: int, message: str) -> PPLError:
    """`error` pointing at byte `offset` of `raw`, by line and column (of characters)."""
    start = raw.rfind(b"\n", 0, offset) + 1
    end = raw.find(b"\n", offset)
    line_text = bytes(raw[start:end if end >= 0 else len(raw)]).decode("utf-8", "replace")
    line = raw.count(b"\n", 0, offset) + 1
    col = len(bytes(raw[start:offset]).decode("utf-8", "replace")) + 1
    return error(message, Span(line, col, line, col + 1), Source("\n" * (line - 1) + line_text, str(path)),
                 hint=UTF8)


def open_regular(path: str | Path, what: str, error: type[PPLError] = PPLError) -> BinaryIO:
    """The `what` file at `path` opened for reading as bytes, once it is known to be a regular
    file (a device or a pipe cannot be seeked, and its size cannot be known)."""
    try:
        f = open(path, "rb")
    except OSError as err:
        raise error(f"cannot read {what} file: {err.strerror or err}", source=Source("", str(path))) from None
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise error(f"the {what} file is not a regular file (a device or a pipe)", source=Source("", str(path)),
                    hint=f"give the path of a {what} file")
    return f
