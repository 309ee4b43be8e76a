"""The wire between the grader and an implementation's worker process: plain
numeric data only, never pickled objects.

A message is a JSON object whose arrays travel beside it as raw bytes::

    b"GRUW" | u32 JSON length | u32 number of arrays | u64 bytes of all arrays | JSON (UTF-8)
    then per array: u64 byte count | bytes

Every size is declared in the first 20 bytes, so a reader refuses a message larger
than it will take before reading any of it (``TooLarge``): the grader bounds each
answer by what the call can need. In the JSON an array is
``{"__array__": k, "dtype": "float64", "shape": [...]}`` (k indexes the arrays that
follow). Decoding accepts only a few dtypes, checks every byte count against its
shape and the declared total, and bounds every size, so whatever a worker sends,
the grader gets dicts, lists, strings, numbers and NumPy arrays, or a ``WireError``.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"GRUW"
HEAD = struct.Struct("<4sIIQ")
SIZE = struct.Struct("<Q")
#: The dtypes an array may have on the wire.
DTYPES = ("float64", "float32", "int64", "bool")
MAX_JSON_BYTES = 16 << 20
MAX_ARRAYS = 4096
MAX_NDIM = 6
#: Default bound on one message's array bytes (the grader can ask for less).
MAX_MESSAGE_BYTES = 1 << 30


class WireError(Exception):
    """A message that is not well formed (or a peer that closed the channel)."""


class TooLarge(WireError):
    """A message whose declared size is over what the reader takes; nothing of it was read."""

    def __init__(self, declared: int, limit: int) -> None:
        super().__init__(f"it declares {declared} bytes of arrays, more than the {limit} bytes allowed")
        self.declared, self.limit = declared, limit

    def answer(self, what: str) -> str:
        """The grader's words for an answer to a ``what`` request refused for its size."""
        return (f"the implementation answered with {_size(self.declared)} of arrays, more than this {what} can need "
                f"(at most {_size(self.limit)}: what the case's shapes call for, in float64, with room for a wrong "
                f"shape)")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def array_bytes(message: Any) -> int:
    """The bytes of all the arrays in a plain-data message (what its head would declare)."""
    if isinstance(message, np.ndarray):
        return message.nbytes
    if isinstance(message, dict):
        return sum(array_bytes(v) for v in message.values())
    if isinstance(message, (list, tuple)):
        return sum(array_bytes(v) for v in message)
    return 0


def check_head(head: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[int, int, int]:
    """(JSON length, number of arrays, bytes of all arrays) from a message's first
    ``HEAD.size`` bytes, each checked against its bound."""
    magic, json_len, count, total = HEAD.unpack(head)
    if magic != MAGIC:
        raise WireError("not a message of this protocol (bad magic bytes)")
    if json_len > MAX_JSON_BYTES or count > MAX_ARRAYS:
        raise WireError(f"message too large ({json_len} JSON bytes, {count} arrays)")
    if total > max_bytes:
        raise TooLarge(total, max_bytes)
    return json_len, count, total


def check_sizes(sizes: list[int], total: int) -> None:
    """The arrays' byte counts add up to the declared total."""
    if sum(sizes) != total:
        raise WireError(f"its arrays hold {sum(sizes)} bytes, but it declared {total}")


def _encode_value(value: Any, buffers: list[memoryview]) -> Any:
    if isinstance(value, np.ndarray):
        dtype = value.dtype.name
        if dtype not in DTYPES:
            raise WireError(f"arrays of dtype {dtype} do not go on the wire")
        # A view of the array's own bytes, not a copy: parameters at production sizes are
        # tens of MB, and every copy on the way costs as much as the call they are for.
        buffers.append(memoryview(np.ascontiguousarray(value).reshape(-1).view(np.uint8)))
        return {"__array__": len(buffers) - 1, "dtype": dtype, "shape": list(value.shape)}
    if isinstance(value, dict):
        return {str(k): _encode_value(v, buffers) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v, buffers) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def encode_parts(message: dict[str, Any]) -> list[bytes | memoryview]:
    """The message as the pieces to write in order: head and JSON, then each array's byte
    count and a view of its bytes (valid while the message's arrays are). Encoding is done
    before anything is written, so a value that cannot go on the wire sends nothing."""
    buffers: list[memoryview] = []
    body = json.dumps(_encode_value(message, buffers), separators=(",", ":"), allow_nan=False).encode()
    parts: list[bytes | memoryview] = [HEAD.pack(MAGIC, len(body), len(buffers), sum(b.nbytes for b in buffers)),
                                       body]
    for buffer in buffers:
        parts += [SIZE.pack(buffer.nbytes), buffer]
    return parts


def encode(message: dict[str, Any]) -> bytes:
    return b"".join(encode_parts(message))


def _read_array_bytes(stream: BinaryIO, n: int) -> bytearray:
    """``n`` bytes read straight into a buffer of their own (decoded without a copy)."""
    if not hasattr(stream, "readinto"):  # a stream that only reads
        return bytearray(_read_exact(stream, n))
    buffer = bytearray(n)
    view, got = memoryview(buffer), 0
    while got < n:
        read = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not read:
            raise WireError("the channel closed in the middle of a message")
        got += read
    return buffer


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise WireError("the channel closed in the middle of a message" if got or chunks
                            else "the channel closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frames(stream: BinaryIO, *, max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[bytes, list[bytearray]]:
    """One message's JSON bytes and raw arrays, read from a blocking stream."""
    json_len, count, total = check_head(_read_exact(stream, HEAD.size), max_bytes=max_bytes)
    body = _read_exact(stream, json_len)
    buffers, left = [], total
    for _ in range(count):
        (size,) = SIZE.unpack(_read_exact(stream, SIZE.size))
        if size > left:
            raise WireError(f"its arrays hold more bytes than the {total} it declared")
        left -= size
        buffers.append(_read_array_bytes(stream, size))
    check_sizes([len(b) for b in buffers], total)
    return body, buffers


def _decode_value(value: Any, buffers: list[bytes] | list[bytearray], used: set[int]) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return _decode_array(value, buffers, used)
        if "__float__" in value and len(value) == 1:
            text = value["__float__"]
            if text not in ("nan", "inf", "-inf"):
                raise WireError(f"bad float {text!r}")
            return float(text)
        return {k: _decode_value(v, buffers, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v, buffers, used) for v in value]
    return value


def _decode_array(ref: dict[str, Any], buffers: list[bytes] | list[bytearray], used: set[int]) -> np.ndarray:
    index, dtype, shape = ref.get("__array__"), ref.get("dtype"), ref.get("shape")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(buffers) or index in used:
        raise WireError(f"bad array reference {index!r}")
    if dtype not in DTYPES:
        raise WireError(f"arrays of dtype {dtype!r} are not accepted")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise WireError(f"bad array shape {shape!r}")
    used.add(index)
    buffer = buffers[index]
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if len(buffer) != expected:
        raise WireError(f"array of shape {shape} and dtype {dtype} needs {expected} bytes, got {len(buffer)}")
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    # A buffer of its own (each is referenced once) becomes the array as it is; read-only
    # bytes are copied, so that every decoded array is writable and shares nothing.
    return array if isinstance(buffer, bytearray) else array.copy()


def decode(body: bytes, buffers: list[bytes] | list[bytearray]) -> dict[str, Any]:
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"message is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise WireError("message is not a JSON object")
    try:
        return _decode_value(raw, buffers, set())
    except RecursionError:
        raise WireError("message nested too deeply") from None


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    for part in encode_parts(message):
        stream.write(part)
    stream.flush()


def read_message(stream: BinaryIO, *, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    return decode(*read_frames(stream, max_bytes=max_bytes))


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.name not in DTYPES:
            raise WireError(f"arrays of dtype {value.dtype.name} do not go on the wire")
        return value.copy()
    if isinstance(value, dict):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise WireError(f"a {type(value).__name__} does not go on the wire")


def roundtrip(message: dict[str, Any]) -> dict[str, Any]:
    """What the other side of the wire would get, without encoding: used by the in-process
    transport, so that it hands over what a worker would (plain values, fresh copies, no
    shared objects)."""
    return _copy(message)
