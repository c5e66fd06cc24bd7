# On the target: the wheel pip installed into a fresh directory (argv[1]) is
# imported with its libyaml-based C extension (libyaml vendored in the
# wheel), and a CLoader/CDumper round trip of a non-trivial document works.
import sys

site = sys.argv[1]
sys.path.insert(0, site)
import yaml
from yaml import _yaml

assert yaml.__file__.startswith(site), yaml.__file__
assert _yaml.__file__.startswith(site) and _yaml.__file__.endswith(".so"), _yaml.__file__
assert yaml.__with_libyaml__, "the libyaml extension is not in use"
doc = {
    "name": "recipe",
    "targets": ["armv7hf", "aarch64", "x86_64"],
    "numbers": [0, -1, 2**62, 3.5, 1e-10],
    "text": "ünïcödé \U0001f600\nmultiple lines\n",
    "nested": {"a": {"b": {"c": [None, True, False, {"d": "e"}]}}},
    "anchors": [{"x": 1}] * 3,
}
text = yaml.dump(doc, Dumper=yaml.CDumper, allow_unicode=True, sort_keys=True)
back = yaml.load(text, Loader=yaml.CLoader)
assert back == doc, (back, doc)
assert yaml.load(text, Loader=yaml.SafeLoader) == doc, "C and pure-Python loaders disagree"
print("pyyaml: libyaml", yaml._yaml.get_version_string(), "via", _yaml.__file__)
