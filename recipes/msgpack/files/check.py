# On the target: the wheel pip installed into a fresh directory (argv[1]) is
# imported, its C extension is the packer in use, and nested data with bytes,
# ints at the 64-bit limits and floats round-trips.
import sys

site = sys.argv[1]
sys.path.insert(0, site)
import msgpack
from msgpack import _cmsgpack

assert msgpack.__file__.startswith(site), msgpack.__file__
assert _cmsgpack.__file__.startswith(site) and _cmsgpack.__file__.endswith(".so"), _cmsgpack.__file__
assert msgpack.Packer is _cmsgpack.Packer and msgpack.unpackb is _cmsgpack.unpackb, "not the C extension"
data = {
    "ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 127, -32, 255, 65536],
    "floats": [0.0, -1.5, 3.141592653589793, 1e308, -2.2250738585072014e-308],
    "bytes": b"\x00\xff" * 1000,
    "text": "ünïcödé \U0001f600",
    "nested": {"list": [[1, [2, [3, {"deep": None}]]], True, False]},
}
packed = msgpack.packb(data, use_bin_type=True)
assert msgpack.unpackb(packed, raw=False, strict_map_key=False) == data
assert msgpack.packb(2**64 - 1) == b"\xcf" + b"\xff" * 8
assert msgpack.packb(-(2**63)) == b"\xd3\x80" + b"\x00" * 7
try:
    msgpack.packb(2**64)
except OverflowError:
    pass
else:
    raise AssertionError("2**64 must not pack")
from msgpack import fallback

assert fallback.unpackb(packed, raw=False) == data, "C and pure-Python disagree"
print("msgpack: _cmsgpack loaded from", _cmsgpack.__file__)
