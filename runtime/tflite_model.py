"""A small, bounds-checked reader for TFLite flatbuffers (no TensorFlow, no generated code).

Reads what the runtime needs before handing bytes to an interpreter: the operator census (which
ops, builtin or custom, so the right backend is chosen), input/output tensors and metadata (the
embedded model spec). Every offset is checked against the buffer, so a truncated or hand-crafted
file raises :class:`ModelFormatError` instead of reading out of bounds. Field numbers follow
TensorFlow Lite's ``schema.fbs``.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

# BuiltinOperator codes (schema.fbs) for the ops this project's models use, and a few others.
BUILTIN_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU",
    21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH", 32: "CUSTOM",
    34: "PAD", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV", 43: "SQUEEZE", 49: "SPLIT",
    53: "CAST", 54: "PRELU", 60: "PADV2", 97: "RESIZE_NEAREST_NEIGHBOR", 114: "QUANTIZE", 117: "HARD_SWISH",
}
TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                7: "int16", 9: "int8", 10: "float64"}
TYPE_SIZES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8}
MAX_TENSOR_ELEMENTS = 1 << 31


class ModelFormatError(ValueError):
    """The bytes are not a well-formed TFLite flatbuffer."""


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int


@dataclass
class OpInfo:
    name: str  # builtin name, or the custom code for CUSTOM ops
    custom: bool
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom_options: bytes = b""


@dataclass
class ModelInfo:
    version: int
    tensors: list[TensorInfo]
    ops: list[OpInfo]
    inputs: list[int]
    outputs: list[int]
    metadata: dict[str, bytes] = field(default_factory=dict)
    num_subgraphs: int = 1

    @property
    def op_counts(self) -> Counter:
        return Counter(op.name for op in self.ops)

    @property
    def custom_ops(self) -> set[str]:
        return {op.name for op in self.ops if op.custom}

    def input_details(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.inputs]

    def output_details(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.outputs]


class _Reader:
    def __init__(self, buf: bytes):
        self.b = memoryview(buf)
        self.n = len(buf)

    def _need(self, pos: int, size: int, what: str):
        if pos < 0 or size < 0 or pos + size > self.n:
            raise ModelFormatError(f"truncated or corrupt model: {what} at byte {pos} (+{size}) is outside "
                                   f"the {self.n}-byte file")

    def u8(self, pos):
        self._need(pos, 1, "uint8")
        return self.b[pos]

    def i8(self, pos):
        self._need(pos, 1, "int8")
        return struct.unpack_from("<b", self.b, pos)[0]

    def u16(self, pos):
        self._need(pos, 2, "uint16")
        return struct.unpack_from("<H", self.b, pos)[0]

    def i32(self, pos):
        self._need(pos, 4, "int32")
        return struct.unpack_from("<i", self.b, pos)[0]

    def u32(self, pos):
        self._need(pos, 4, "uint32")
        return struct.unpack_from("<I", self.b, pos)[0]

    def u64(self, pos):
        self._need(pos, 8, "uint64")
        return struct.unpack_from("<Q", self.b, pos)[0]

    def deref(self, pos):
        """Follow a uoffset stored at ``pos``."""
        return pos + self.u32(pos)

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
        vt = table - self.i32(table)
        vsize = self.u16(vt)
        if vsize < 4 or vsize % 2:
            raise ModelFormatError(f"corrupt vtable at byte {vt}")
        slot = 4 + 2 * index
        if slot + 2 > vsize:
            return None
        off = self.u16(vt + slot)
        if off == 0:
            return None
        tsize = self.u16(vt + 2)
        if off >= tsize:
            raise ModelFormatError(f"field {index} of table at byte {table} lies outside the table")
        return table + off

    def table(self, table, index):
        p = self.field(table, index)
        return None if p is None else self.check_table(self.deref(p))

    def check_table(self, table: int) -> int:
        """The table at ``table`` with its vtable and inline fields inside the file (the reads a
        flatbuffer accessor does without checking)."""
        vt = table - self.i32(table)
        vsize, tsize = self.u16(vt), self.u16(vt + 2)
        if vsize < 4 or vsize % 2 or tsize < 4:
            raise ModelFormatError(f"corrupt vtable at byte {vt}")
        self._need(vt, vsize, "vtable")
        self._need(table, tsize, "table")
        return table

    def typed_vector(self, table, index, itemsize: int, what: str) -> tuple[int, int] | None:
        v = self.vector(table, index)
        if v is not None:
            self._need(v[0], itemsize * v[1], what)
        return v

    def vector(self, table, index) -> tuple[int, int] | None:
        p = self.field(table, index)
        if p is None:
            return None
        v = self.deref(p)
        return v + 4, self.u32(v)

    def string(self, table, index) -> str:
        v = self.vector(table, index)
        if v is None:
            return ""
        start, n = v
        self._need(start, n, "string")
        return bytes(self.b[start:start + n]).decode("utf-8", "replace")

    def bytes_vector(self, table, index) -> bytes:
        v = self.vector(table, index)
        if v is None:
            return b""
        start, n = v
        self._need(start, n, "byte vector")
        return bytes(self.b[start:start + n])

    def int_vector(self, table, index) -> tuple[int, ...]:
        v = self.vector(table, index)
        if v is None:
            return ()
        start, n = v
        self._need(start, 4 * n, "int vector")
        return struct.unpack_from(f"<{n}i", self.b, start)

    def tables(self, table, index) -> list[int]:
        v = self.vector(table, index)
        if v is None:
            return []
        start, n = v
        self._need(start, 4 * n, "table vector")
        return [self.check_table(self.deref(start + 4 * i)) for i in range(n)]


def read_model(data: bytes) -> ModelInfo:
    """Parse a TFLite flatbuffer's structure (subgraph 0), checking every offset.

    Args:
        data: the whole ``.tflite`` file.

    Returns:
        :class:`ModelInfo` with tensors (name, shape, dtype), ops in execution order, graph
        inputs/outputs (tensor indices) and metadata entries (name -> bytes).

    Raises:
        ModelFormatError: not a TFLite file, truncated, or with out-of-range indices.
    """
    if len(data) < 8:
        raise ModelFormatError(f"not a TFLite model: only {len(data)} bytes")
    if bytes(data[4:8]) != b"TFL3":
        raise ModelFormatError("not a TFLite model: missing the 'TFL3' file identifier")
    r = _Reader(data)
    root = r.deref(0)
    vp = r.field(root, 0)
    version = r.u32(vp) if vp is not None else 0
    codes = []
    for oc in r.tables(root, 1):
        p = r.field(oc, 3)
        builtin = r.i32(p) if p is not None else 0
        p = r.field(oc, 0)
        dep = r.i8(p) if p is not None else 0
        code = max(builtin, dep)
        if code == 32:
            codes.append((r.string(oc, 1) or "CUSTOM", True))
        else:
            codes.append((BUILTIN_NAMES.get(code, f"BUILTIN_{code}"), False))
    buffers = r.tables(root, 4)
    buffer_sizes = [(v[1] if (v := r.typed_vector(b, 0, 1, "buffer")) else 0) for b in buffers]
    subgraphs = r.tables(root, 2)
    if not subgraphs:
        raise ModelFormatError("model has no subgraphs")
    sg = subgraphs[0]
    tensors = []
    def short(shape):  # a corrupt shape can be thousands of numbers long: keep errors one short line
        return str(shape) if len(shape) <= 8 else f"{str(shape[:8])[:-1]}, ... ({len(shape)} dims))"

    for t in r.tables(sg, 0):
        shape = r.int_vector(t, 0)
        if len(shape) > 16:
            raise ModelFormatError(f"tensor of rank {len(shape)} {short(shape)}")
        if any(d < -1 for d in shape):
            raise ModelFormatError(f"tensor with negative dimension {short(shape)}")
        n = 1
        for d in shape:
            n *= max(d, 1)
        if n > MAX_TENSOR_ELEMENTS:
            raise ModelFormatError(f"tensor of shape {short(shape)} is absurdly large")
        p = r.field(t, 1)
        ttype = r.i8(p) if p is not None else 0
        p = r.field(t, 2)
        buf = r.u32(p) if p is not None else 0
        if buf >= max(len(buffers), 1):
            raise ModelFormatError(f"tensor refers to buffer {buf} of {len(buffers)}")
        q = r.table(t, 4)  # quantization: min, max, scale (float), zero_point (int64), details
        if q is not None:
            counts = [(v[1] if v else 0) for v in (r.typed_vector(q, i, sz, "quantization vector")
                                                   for i, sz in ((0, 4), (1, 4), (2, 4), (3, 8)))]
            if counts[2] and counts[3] and counts[2] != counts[3]:
                raise ModelFormatError(f"tensor has {counts[2]} scales but {counts[3]} zero points")
            r.table(q, 5)
        if r.field(t, 6) is not None or r.field(t, 9) is not None:
            raise ModelFormatError("sparse or variant tensors are not supported by the runtime")
        r.int_vector(t, 7)  # shape_signature
        size = TYPE_SIZES.get(ttype)
        if buffers and buf and size and all(d >= 0 for d in shape):
            data_len = buffer_sizes[buf]
            if data_len and data_len != n * size:
                raise ModelFormatError(f"constant tensor of shape {short(shape)} has {data_len} bytes, "
                                       f"expected {n * size}")
        tensors.append(TensorInfo(r.string(t, 3), tuple(shape), TENSOR_TYPES.get(ttype, f"type{ttype}"), buf))
    nt = len(tensors)

    def check(idx, what):
        for i in idx:
            if not -1 <= i < nt:
                raise ModelFormatError(f"{what} refers to tensor {i} of {nt}")
        return tuple(idx)

    ops = []
    for o in r.tables(sg, 3):
        p = r.field(o, 0)
        ci = r.u32(p) if p is not None else 0
        if ci >= len(codes):
            raise ModelFormatError(f"operator uses opcode {ci} of {len(codes)}")
        name, custom = codes[ci]
        r.table(o, 4)  # builtin options
        r.typed_vector(o, 7, 1, "mutating_variable_inputs")
        r.int_vector(o, 8)  # intermediates
        ops.append(OpInfo(name, custom, check(r.int_vector(o, 1), name), check(r.int_vector(o, 2), name),
                          r.bytes_vector(o, 5) if custom else b""))
    inputs = list(check(r.int_vector(sg, 1), "graph input"))
    outputs = list(check(r.int_vector(sg, 2), "graph output"))
    metadata = {}
    for m in r.tables(root, 6):
        name = r.string(m, 0)
        p = r.field(m, 1)
        bi = r.u32(p) if p is not None else 0
        if bi >= len(buffers):
            raise ModelFormatError(f"metadata {name!r} refers to buffer {bi} of {len(buffers)}")
        b = buffers[bi]
        data_ = r.bytes_vector(b, 0)
        if not data_:  # large models keep buffers outside the flatbuffer: offset/size fields
            po, ps = r.field(b, 1), r.field(b, 2)
            if po is not None and ps is not None:
                off, size = r.u64(po), r.u64(ps)
                r._need(off, size, f"metadata {name!r}")
                data_ = bytes(r.b[off:off + size])
        metadata[name] = data_
    return ModelInfo(version, tensors, ops, inputs, outputs, metadata, len(subgraphs))
