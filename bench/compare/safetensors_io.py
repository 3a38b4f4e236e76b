#!/usr/bin/env python3
"""safetensors read/write in pure Python (stdlib + torch), for PyTorch-side scripts that exchange
weights with metaloss (models/safetensors.h). Debian's python3-torch (1.13) has no `safetensors`
package; run with /usr/bin/python3.

    save(path, {name: tensor}, metadata=None)   # atomic: path + ".tmp", fsync, rename
    load(path) -> {name: tensor}                 # in header order
    load_with_metadata(path) -> ({name: tensor}, {str: str})

Files match the reference implementation (and metaloss) byte for byte: tensors ordered by dtype
(descending order of the reference's Dtype enum, i.e. largest alignment first), then by name;
compact JSON header, "__metadata__" first (keys sorted, omitted when None), padded with spaces to a
multiple of 8. Loading is strict like metaloss: header length within the file, well-formed UTF-8
JSON, no duplicate keys, known fields, shape x dtype size equal to each offset span, and the
tensors tiling the data buffer exactly. Dtypes: every one torch 1.13 has (BOOL, U8, I8, I16, I32,
I64, F16, BF16, F32, F64), kept as they are (metaloss itself reads F16/BF16 as float32).

Self-check:  python3 safetensors_io.py [--out FILE] [FILE ...]
  writes sample tensors with save() (to FILE given by --out, else a temporary file), loads them
  back and compares; then, for each FILE (e.g. written by metaloss), prints every tensor's name,
  dtype, shape, sum (float64) and CRC-32 of its row-major little-endian bytes.
"""
import json
import os
import sys
import tempfile
import zlib

import torch

# The reference's Dtype enum, in order (the writer sorts by it), with element sizes.
_ENUM = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
         "F64", "I64", "U64"]
_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
         "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
_TORCH = {"BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16,
          "I32": torch.int32, "I64": torch.int64, "F16": torch.float16, "BF16": torch.bfloat16,
          "F32": torch.float32, "F64": torch.float64}
_NAME = {v: k for k, v in _TORCH.items()}
_MAX_HEADER = 100_000_000  # the reference's limit

if sys.byteorder != "little":
    raise ImportError("safetensors_io assumes a little-endian host (tensor bytes are copied as they are)")


def _raw_bytes(t):
    """Row-major little-endian bytes of t (any layout)."""
    flat = t.detach().cpu().contiguous().reshape(-1)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)  # exactly 0 or 1, as the format wants
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def _json(obj):
    # Same text as serde_json (the reference) and metaloss: compact, UTF-8, not ASCII-escaped.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def save(path, tensors, metadata=None):
    """Writes {name: tensor} (and optional {str: str} metadata) to path, atomically."""
    items = []
    for name, t in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"save: {path}: bad tensor name {name!r}")
        if not isinstance(t, torch.Tensor) or t.dtype not in _NAME:
            raise ValueError(f"save: {path}: tensor {name!r} is not a tensor of a supported dtype")
        items.append((name, _NAME[t.dtype], t))
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"save: {path}: metadata must map str to str")
    # Descending dtype enum order, then name by UTF-8 bytes (= code points), as the reference.
    items.sort(key=lambda it: (-_ENUM.index(it[1]), it[0]))

    parts, offset, blobs = [], 0, []
    if metadata is not None:
        parts.append(_json("__metadata__") + ":" + _json(dict(sorted(metadata.items()))))
    for name, dt, t in items:
        blob = _raw_bytes(t)
        info = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        parts.append(_json(name) + ":" + _json(info))
        offset += len(blob)
        blobs.append(blob)
    header = ("{" + ",".join(parts) + "}").encode("utf-8")
    header += b" " * (-len(header) % 8)  # 8-byte alignment of the data buffer

    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(len(header).to_bytes(8, "little"))
            f.write(header)
            for blob in blobs:
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)  # make the rename durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_with_metadata(path):
    """({name: tensor} in header order, {str: str} metadata) from a safetensors file."""
    def fail(what):
        raise ValueError(f"load: {path}: {what}")

    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail(f"truncated: the file has {len(data)} bytes, fewer than the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER:
        fail(f"header length {n} exceeds the 100 MB limit")
    if n > len(data) - 8:
        fail(f"truncated: header length {n} runs past the end of the file ({len(data)} bytes)")
    raw = data[8:8 + n]
    if raw[:1] != b"{":
        fail("malformed JSON: the header must start with '{'")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            fail(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r} in the header")
        return dict(pairs)

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"malformed JSON: {e}")

    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail("__metadata__ must map strings to strings")

    def uint(x):
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    buffer = data[8 + n:]
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            fail(f"tensor {name!r} must have exactly the fields dtype, shape, data_offsets")
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in _SIZE:
            fail(f"tensor {name!r} has unknown dtype {dt!r}")
        if dt not in _TORCH:
            fail(f"tensor {name!r} has dtype {dt}, which torch {torch.__version__} cannot hold")
        if not (isinstance(shape, list) and all(uint(d) for d in shape)):
            fail(f"tensor {name!r}: shape must be a list of non-negative integers")
        if not (isinstance(offs, list) and len(offs) == 2 and all(uint(o) for o in offs)):
            fail(f"tensor {name!r}: data_offsets must be [begin, end]")
        begin, end = offs
        numel = 1
        for d in shape:
            numel *= d
        if end < begin or end - begin != numel * _SIZE[dt]:
            fail(f"shape/offset size mismatch: tensor {name!r} is {dt} {shape} = {numel * _SIZE[dt]} bytes "
                 f"but its data_offsets {offs} span {end - begin}")
        if end > len(buffer):
            fail(f"truncated: tensor {name!r} has data_offsets {offs} past the end of the data buffer "
                 f"({len(buffer)} bytes)")
        entries.append((name, dt, shape, begin, end))

    cursor = 0  # the tensors must tile the buffer: no overlap, no gap, nothing after the last one
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != cursor:
            fail(f"tensor {name!r} starts at {begin}, expected {cursor} (overlap or gap in the data buffer)")
        cursor = end
    if cursor != len(buffer):
        fail(f"non-contiguous data: the last {len(buffer) - cursor} bytes of the data buffer belong to no tensor")

    out = {}
    for name, dt, shape, begin, end in entries:
        if begin == end:
            out[name] = torch.empty(shape, dtype=_TORCH[dt])
            continue
        u8 = torch.frombuffer(bytearray(buffer[begin:end]), dtype=torch.uint8)
        if dt == "BOOL" and int(u8.max()) > 1:
            fail(f"BOOL tensor {name!r} holds bytes other than 0 and 1")
        out[name] = u8.view(_TORCH[dt]).reshape(shape)
    return out, metadata


def load(path):
    """{name: tensor} from a safetensors file, in header order."""
    return load_with_metadata(path)[0]


def describe(name, t):
    """One line: name, dtype, shape, float64 sum, CRC-32 of the row-major little-endian bytes."""
    shape = "[" + ", ".join(str(d) for d in t.shape) + "]"
    total = t.double().sum().item() if t.numel() else 0.0
    return f"{name} {_NAME[t.dtype]} {shape} sum={total:.17g} crc32={zlib.crc32(_raw_bytes(t)):08x}"


def _samples():
    # Deterministic values that are exact in every dtype used (so sums compare exactly).
    a = torch.arange(12, dtype=torch.float64)
    return {
        "w": (a.reshape(3, 4) * 0.25 - 1).to(torch.float32),
        "w_t": (a.reshape(3, 4) * 0.5).to(torch.float32).t(),  # non-contiguous
        "v": a[:5] / 8 - 0.125,
        "idx": torch.tensor([[1, -2], [2**62, -(2**63)]], dtype=torch.int64),
        "mask": torch.tensor([True, False, True, True]),
        "scalar": torch.tensor(-2.5, dtype=torch.float32),
        "empty": torch.empty(0, 3, dtype=torch.float64),
        "half": torch.tensor([1.0, -2.0, 65504.0, 2.0**-24, 0.333251953125], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -5.0, 3.0e38], dtype=torch.bfloat16),
    }  # only dtypes metaloss reads, so that --out writes a file metaloss can load


def _main(argv):
    out = None
    if argv[:1] == ["--out"]:
        out, argv = argv[1], argv[2:]
    samples, meta = _samples(), {"format": "pt", "writer": "safetensors_io.py", "note": "caf\u00e9 \"q\"\n"}
    path = out or os.path.join(tempfile.mkdtemp(), "py.safetensors")
    save(path, samples, meta)
    back, back_meta = load_with_metadata(path)
    assert back_meta == meta, back_meta
    assert list(back) == sorted(samples, key=lambda k: (-_ENUM.index(_NAME[samples[k].dtype]), k)), list(back)
    for name, t in samples.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape, name
        assert torch.equal(back[name], t), name
    with open(path, "rb") as f:
        assert int.from_bytes(f.read(8), "little") % 8 == 0
    print(f"self-check ok: wrote and re-read {len(samples)} tensors ({path})")
    for name, t in back.items():
        print("  " + describe(name, t))
    if not out:
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
    for p in argv:
        tensors, metadata = load_with_metadata(p)
        print(f"{p}: {len(tensors)} tensors, metadata {json.dumps(metadata, sort_keys=True, ensure_ascii=False)}")
        for name, t in tensors.items():
            print("  " + describe(name, t))


if __name__ == "__main__":
    _main(sys.argv[1:])
