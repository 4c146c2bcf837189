"""Reading a GGUF file: its metadata, its tensor table, and each tensor as float32.

Our own header parser rather than gguf-py's `GGUFReader`: that one builds numpy views for every
vocabulary string (2.6 s on SmolLM2's 49k tokens) and cannot tell a truncated file from a short
tensor. The tensor data comes from MLX's own GGUF loader when every tensor is of a type it reads
exactly (F32, F16, Q4_0, Q4_1, Q8_0: fast, multi-threaded), otherwise from gguf-py's numpy
dequantizers, which know every llama.cpp type (K-quants, IQ-quants, BF16). MLX is not used for the
rest because it turns BF16 into float16 and silently leaves out tensors of types it does not know.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from math import prod
from pathlib import Path

import mlx.core as mx
import numpy as np

from notme.errors import InputError

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

# ggml type ids (llama.cpp's ggml.h) and the names users see in file names and errors
GGML_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
    24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
    35: "TQ2_0", 39: "MXFP4",
}  # fmt: skip
# the types MLX's GGUF loader reads without loss (Q4_0 / Q4_1 / Q8_0 become MLX affine quantization)
MLX_EXACT_TYPES = {0, 1, 2, 3, 8}

# metadata value types: fixed-size ones as struct formats; 8 is a string, 9 an array
_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # row-major (numpy / MLX order): ggml lists dimensions the other way round
    ggml_type: int
    offset: int  # from the start of the data section

    @property
    def type_name(self) -> str:
        return GGML_TYPE_NAMES.get(self.ggml_type, f"type {self.ggml_type}")


@dataclass(frozen=True)
class GGUFFile:
    path: Path
    version: int
    metadata: dict
    tensors: tuple[TensorInfo, ...]
    data_start: int

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def tensor_types(self) -> dict[str, int]:
        """How many tensors of each type the file holds, by type name."""
        counts: dict[str, int] = {}
        for info in self.tensors:
            counts[info.type_name] = counts.get(info.type_name, 0) + 1
        return counts


def read_gguf(path: Path) -> GGUFFile:
    """Parse the header, metadata and tensor table; check that every tensor's data is in the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        blob = np.memmap(path, mode="r", dtype=np.uint8)
    except (OSError, ValueError) as e:  # an empty file cannot be mapped
        raise InputError(path, f"cannot read it as GGUF ({e})") from e
    if bytes(blob[:4]) != GGUF_MAGIC:
        raise InputError(path, "not a GGUF file (it does not start with the bytes 'GGUF')")
    try:
        return _parse(path, blob)
    except (struct.error, UnicodeDecodeError, IndexError, ValueError) as e:
        raise InputError(path, f"the GGUF header is truncated or corrupt ({e})") from e


def _parse(path: Path, blob: np.ndarray) -> GGUFFile:
    version, tensor_count, kv_count = struct.unpack_from("<IQQ", blob, 4)
    if version not in GGUF_VERSIONS:
        raise InputError(path, f"GGUF version {version} is not supported (only {GGUF_VERSIONS})")
    if tensor_count > len(blob) or kv_count > len(blob):  # garbage counts: do not loop for hours
        raise InputError(path, "the GGUF header is corrupt (impossible tensor or key count)")
    reader = _Reader(blob, 24)
    metadata = {}
    for _ in range(kv_count):
        key = reader.string()
        metadata[key] = reader.value(reader.scalar("<I"))
    tensors = []
    for _ in range(tensor_count):
        name = reader.string()
        dims = [reader.scalar("<Q") for _ in range(reader.scalar("<I"))]
        ggml_type = reader.scalar("<I")
        offset = reader.scalar("<Q")
        tensors.append(TensorInfo(name, tuple(reversed(dims)), ggml_type, offset))
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    data_start = -(-reader.pos // alignment) * alignment
    gguf = GGUFFile(path, version, metadata, tuple(tensors), data_start)
    for info in tensors:
        end = data_start + info.offset + tensor_nbytes(info)
        if end > len(blob):
            raise InputError(path, f"the file is truncated: tensor {info.name} ends at byte {end}, "
                                   f"the file has {len(blob)} bytes")
    return gguf


class _Reader:
    def __init__(self, blob: np.ndarray, pos: int) -> None:
        self.blob = blob
        self.pos = pos

    def scalar(self, fmt: str):
        (value,) = struct.unpack_from(fmt, self.blob, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.scalar("<Q")
        if self.pos + length > len(self.blob):
            raise ValueError(f"a string of {length} bytes runs past the end of the file")
        text = bytes(self.blob[self.pos : self.pos + length]).decode("utf-8")
        self.pos += length
        return text

    def value(self, value_type: int):
        if value_type in _SCALAR_FORMATS:
            return self.scalar(_SCALAR_FORMATS[value_type])
        if value_type == 8:
            return self.string()
        if value_type == 9:
            item_type, count = self.scalar("<I"), self.scalar("<Q")
            if count > len(self.blob):
                raise ValueError(f"an array of {count} items cannot fit in the file")
            if item_type in _SCALAR_FORMATS:  # token types, scores: read in one go
                fmt = _SCALAR_FORMATS[item_type]
                values = struct.unpack_from(f"<{count}{fmt[1]}", self.blob, self.pos)
                self.pos += count * struct.calcsize(fmt)
                return list(values)
            return [self.value(item_type) for _ in range(count)]
        raise ValueError(f"unknown metadata value type {value_type}")


def tensor_nbytes(info: TensorInfo) -> int:
    block_size, type_size = _block(info)
    return prod(info.shape) // block_size * type_size


def _block(info: TensorInfo) -> tuple[int, int]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType(info.ggml_type)]
    except (ValueError, KeyError):
        raise ValueError(f"tensor {info.name} has an unknown ggml type {info.ggml_type}") from None


def iter_float_tensors(gguf: GGUFFile) -> Iterator[tuple[TensorInfo, mx.array]]:
    """Every tensor of the file, dequantized to float32, in file order."""
    if all(info.ggml_type in MLX_EXACT_TYPES for info in gguf.tensors):
        yield from _iter_with_mlx(gguf)
    else:
        yield from _iter_with_numpy(gguf)


def _iter_with_mlx(gguf: GGUFFile) -> Iterator[tuple[TensorInfo, mx.array]]:
    try:
        arrays = mx.load(str(gguf.path))
    except Exception as e:  # MLX raises plain RuntimeErrors for files it cannot read
        raise InputError(gguf.path, f"MLX cannot read the tensors ({e})") from e
    for info in gguf.tensors:
        if info.name not in arrays:
            raise InputError(gguf.path, f"MLX did not load tensor {info.name} ({info.type_name})")
        weight = arrays.pop(info.name)
        scales = arrays.pop(info.name.removesuffix(".weight") + ".scales", None)
        if scales is None:
            yield info, weight.astype(mx.float32)
            continue
        biases = arrays.pop(info.name.removesuffix(".weight") + ".biases")
        bits = weight.shape[-1] * 32 // prod(info.shape[-1:])
        group_size = info.shape[-1] // scales.shape[-1]
        # float32 scales: dequantizing with the file's float16 ones would round every value to float16
        values = mx.dequantize(weight, scales.astype(mx.float32), biases.astype(mx.float32),
                               group_size=group_size, bits=bits)
        yield info, values.reshape(info.shape)


def _iter_with_numpy(gguf: GGUFFile) -> Iterator[tuple[TensorInfo, mx.array]]:
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    blob = np.memmap(gguf.path, mode="r", dtype=np.uint8)
    for info in gguf.tensors:
        start = gguf.data_start + info.offset
        raw = np.asarray(blob[start : start + tensor_nbytes(info)])
        rows = prod(info.shape[:-1])
        try:
            values = dequantize(raw.reshape(rows, -1), GGMLQuantizationType(info.ggml_type))
        except NotImplementedError as e:
            raise InputError(gguf.path, f"tensor {info.name} is stored as {info.type_name}, which cannot be "
                                        "converted; use a file with another quantization (Q4_K_M, Q8_0, F16...)") from e
        yield info, mx.array(values.astype(np.float32, copy=False).reshape(info.shape))
