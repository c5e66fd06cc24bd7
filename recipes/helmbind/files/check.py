# On the target: helmbind installed by pip into a fresh directory (argv[1])
# is imported with its compiled CFFI extension, which calls the Go library
# vendored into the wheel, built for this machine (argv[2], GOARCH).
import glob
import os
import sys

site, goarch = sys.argv[1], sys.argv[2]
sys.path.insert(0, site)
import helmbind
from helmbind import _helmshim

assert helmbind.__file__.startswith(site), helmbind.__file__
# API mode: a compiled extension module, not an ABI-mode dlopen.
assert _helmshim.__file__.startswith(site) and _helmshim.__file__.endswith(".so"), _helmshim.__file__
vendored = glob.glob(os.path.join(site, "helmbind.libs", "libhelmshim-*.so"))
assert len(vendored) == 1, os.listdir(site)
maps = open("/proc/self/maps").read()
assert os.path.basename(vendored[0]) in maps, "the vendored Go library is not the one loaded"
go = helmbind.go_platform()
assert go.startswith("go1.") and go.endswith(" linux/" + goarch), go
out = helmbind.render(
    "{{ range $k, $v := .env }}{{ $k }}={{ $v | quote }}\n{{ end }}replicas: {{ .replicas }}",
    {"env": {"B": "2", "A": "1"}, "replicas": 3},
)
assert out == 'A="1"\nB="2"\nreplicas: 3', repr(out)
try:
    helmbind.render("{{ .x | nosuchfunc }}")
except helmbind.HelmError as e:
    assert 'function "nosuchfunc" not defined' in str(e), str(e)
else:
    raise AssertionError("an unknown function must fail")
print("helmbind:", go, "through", os.path.basename(_helmshim.__file__), "and", os.path.basename(vendored[0]))
