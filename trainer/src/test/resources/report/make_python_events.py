"""Writes python-events/events.out.tfevents.1700000000.fixture for TensorBoardTest.

Independent of the Java code under test: protobuf fields are encoded by hand from
tensorflow/core/util/event.proto and summary.proto, CRC32C is a bitwise implementation, framing follows
tensorflow/core/lib/io/record_writer.cc. Contents:
  file_version event; step 1: train/loss simple_value 0.75;
  step 2: train/loss simple_value 0.5 and eval/loss as a TF2 scalar-plugin tensor (DT_FLOAT float_val 0.625);
  step 3: train/grad_norm as a DT_DOUBLE tensor_content scalar 12.5, plus a text-plugin value (skipped).
"""
import os
import struct


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def event(wall, step=None, file_version=None, values=()):
    out = field(1, 1, struct.pack("<d", wall))
    if step is not None:
        out += field(2, 0, varint(step))
    if file_version is not None:
        out += field(3, 2, file_version.encode())
    if values:
        out += field(5, 2, b"".join(field(1, 2, v) for v in values))
    return out


def simple(tag, value):
    return field(1, 2, tag.encode()) + field(2, 5, struct.pack("<f", value))


def plugin(name):
    return field(9, 2, field(1, 2, field(1, 2, name.encode())))


def float_tensor(tag, value):
    tensor = field(1, 0, varint(1)) + field(2, 2, b"") + field(5, 2, struct.pack("<f", value))
    return field(1, 2, tag.encode()) + field(8, 2, tensor) + plugin("scalars")


def double_content_tensor(tag, value):
    tensor = field(1, 0, varint(2)) + field(2, 2, b"") + field(4, 2, struct.pack("<d", value))
    return field(1, 2, tag.encode()) + field(8, 2, tensor) + plugin("scalars")


def text(tag, s):
    tensor = field(1, 0, varint(7)) + field(8, 2, s.encode())
    return field(1, 2, tag.encode()) + field(8, 2, tensor) + plugin("text")


def record(payload):
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked(header)) + payload + struct.pack("<I", masked(payload))


events = [
    event(1700000000.0, file_version="brain.Event:2"),
    event(1700000001.0, 1, values=[simple("train/loss", 0.75)]),
    event(1700000002.0, 2, values=[simple("train/loss", 0.5), float_tensor("eval/loss", 0.625)]),
    event(1700000003.0, 3, values=[double_content_tensor("train/grad_norm", 12.5), text("notes", "hi")]),
]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "python-events", "events.out.tfevents.1700000000.fixture"), "wb") as f:
    for e in events:
        f.write(record(e))
