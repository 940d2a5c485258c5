// Reads ModelProto.metadata_props (field 14) from an ONNX file: the few
// bytes of protobuf walking needed, since onnxruntime-node does not expose them.

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0, shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

/** Calls visit(field, wireType, start, end) for each top-level field of a message. */
function fields(buf: Uint8Array, visit: (field: number, wire: number, start: number, end: number) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    const field = Math.floor(key / 8), wire = key & 7;
    pos = afterKey;
    if (wire === 0) {
      pos = readVarint(buf, pos)[1];
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else if (wire === 2) {
      const [length, start] = readVarint(buf, pos);
      if (start + length > buf.length) throw new Error('truncated field');
      visit(field, wire, start, start + length);
      pos = start + length;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

/** The key/value metadata of an ONNX model ({} when there is none). */
export function onnxMetadata(model: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = new TextDecoder();
  fields(model, (field, _wire, start, end) => {
    if (field !== 14) return;
    let key = '', value = '';
    fields(model.subarray(start, end), (f, _w, s, e) => {
      if (f === 1) key = text.decode(model.subarray(start + s, start + e));
      if (f === 2) value = text.decode(model.subarray(start + s, start + e));
    });
    out[key] = value;
  });
  return out;
}
