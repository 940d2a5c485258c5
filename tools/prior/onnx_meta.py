"""ONNX metadata_props without the onnx package: ModelProto field 14 entries
(StringStringEntryProto) appended as raw protobuf, which is valid because a
message may repeat fields in any order."""


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def append_metadata(path, props):
    """Appends key/value metadata to the ONNX file at `path`."""
    extra = bytearray()
    for key, value in props.items():
        k, v = str(key).encode(), str(value).encode()
        entry = b"\x0a" + varint(len(k)) + k + b"\x12" + varint(len(v)) + v
        extra += b"\x72" + varint(len(entry)) + entry  # field 14, wire type 2
    with open(path, "ab") as f:
        f.write(extra)
