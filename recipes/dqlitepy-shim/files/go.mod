// dqlitepy-shim: a Go c-shared library implementing the C ABI that
// dqlitepy 0.1.0's _ffi.py declares, on top of go-dqlite v2.
//
// Built offline with -mod=vendor. vendor/ is assembled from Debian's Go
// sources (golang-*-dev packages, usr/share/gocode/src) plus the patched
// go-dqlite 2.0.0 orig tarball; see vendor-modules.txt. Versions below name
// what is vendored, with two deliberate mismatches against go-dqlite's own
// go.mod: golang.org/x/sync is Debian's 0.7.0 (go-dqlite asks for 0.8.0;
// only the semaphore package is used, unchanged API) and
// github.com/google/renameio is Debian's 2.0.0 code shipped at the v1 import
// path (call-compatible with the v1.0.1 that go-dqlite asks for).
module dqlitepy-shim

go 1.22

require (
	github.com/Rican7/retry v0.3.1
	github.com/canonical/go-dqlite/v2 v2.0.0
	github.com/google/renameio v1.0.1
	github.com/pkg/errors v0.9.1
	golang.org/x/sync v0.7.0
	gopkg.in/yaml.v2 v2.4.0
)
