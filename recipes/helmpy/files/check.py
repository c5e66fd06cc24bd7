# On the target: the helmpy installed by pip into a fresh directory
# (argv[1]) picks its platform's library (argv[2], the target's lib dir) and
# that library is the Go code built for this machine (argv[3], GOARCH).
import os
import sys

site, lib_dir, goarch = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, site)
import helmpy

assert helmpy.__file__.startswith(site), helmpy.__file__
assert helmpy.platform_dir() == lib_dir, (helmpy.platform_dir(), lib_dir)
assert helmpy.library_path() == os.path.join(site, "helmpy", "_lib", lib_dir, "libhelmshim.so"), helmpy.library_path()
shipped = sorted(os.listdir(os.path.join(site, "helmpy", "_lib")))
go = helmpy.go_platform()
assert go.startswith("go1.") and go.endswith(" linux/" + goarch), go
# Go's text/template: map keys in sorted order, range with index, pipelines,
# the shim's Helm-like functions.
out = helmpy.render(
    'name: {{ .name | upper | quote }}\n'
    'labels:{{ range $k, $v := .labels }} {{ $k }}={{ $v }}{{ end }}\n'
    'ports: {{ range $i, $p := .ports }}{{ if $i }},{{ end }}{{ $p }}{{ end }}\n'
    'json: {{ toJson .ports }}\n'
    '{{ "a\\nb" | indent 2 }}',
    {"name": "web", "labels": {"tier": "front", "app": "web", "env": "prod"}, "ports": [80, 443]},
)
expected = 'name: "WEB"\nlabels: app=web env=prod tier=front\nports: 80,443\njson: [80,443]\n  a\n  b'
assert out == expected, repr(out)
try:
    helmpy.render("{{ .missing }}", {"name": "x"})
except helmpy.HelmError as e:
    assert 'map has no entry for key "missing"' in str(e), str(e)
else:
    raise AssertionError("a missing key must fail")
print("helmpy:", go, "from _lib/%s (wheel has %s)" % (lib_dir, " ".join(shipped)))
