# On the target: the wheel pip installed into a fresh directory (argv[1])
# is the one imported, its C extension is the escaping in use, and it
# escapes exactly as the pure-Python fallback does.
import sys

site = sys.argv[1]
sys.path.insert(0, site)
import markupsafe
from markupsafe import _native, _speedups

assert markupsafe.__file__.startswith(site), markupsafe.__file__
assert _speedups.__file__.startswith(site) and _speedups.__file__.endswith(".so"), _speedups.__file__
assert markupsafe._escape_inner is _speedups._escape_inner, "the C extension is not the one in use"
samples = [
    "",
    "plain",
    "<script>alert('x') & \"y\"</script>",
    "ünïcödé <b>&amp;</b> \U0001f600 > <",
    "a" * 10000 + "<" + "b" * 10000,
    "\x00<\x00>\x00",
]
for s in samples:
    fast, slow = _speedups._escape_inner(s), _native._escape_inner(s)
    assert fast == slow, (s[:40], fast[:80], slow[:80])
assert str(markupsafe.escape("<a href='x'>")) == "&lt;a href=&#39;x&#39;&gt;"
print("markupsafe: _speedups loaded from", _speedups.__file__)
