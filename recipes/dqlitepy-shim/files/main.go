// Command dqlitepy-shim is built with -buildmode=c-shared into libdqlitepy.so,
// the native library that dqlitepy 0.1.0 loads through cffi. It implements
// every function of the C ABI declared in dqlitepy/_ffi.py on top of
// go-dqlite v2 (node, client and database/sql driver) and libdqlite.
//
// ABI conventions (what dqlitepy's Python code relies on):
//   - int results: 0 is success; anything else makes Python raise. The codes
//     follow dqlitepy.exceptions.ErrorCode (2 invalid argument, 3 unknown
//     handle, 4 misuse / wrong state, 5 no leader, 8 other errors).
//   - dqlitepy_last_error() returns a fresh malloc'd copy of the calling
//     thread's last error message (or NULL) and does not clear it: Python
//     reads and frees it twice per failure.
//   - dqlitepy_version_string() returns static memory (never freed by Python).
//   - Handles are opaque integers indexing Go-side tables; no Go pointer ever
//     crosses into C.
//   - Strings and JSON handed to Python are malloc'd and freed by Python with
//     dqlitepy_free().
package main

/*
#cgo LDFLAGS: -ldqlite
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <stdbool.h>
#include <dqlite.h>

typedef unsigned long long dqlitepy_node_id;
typedef unsigned long long dqlitepy_handle;

static int shim_set_busy_timeout(void *n, unsigned msecs) {
	return dqlite_node_set_busy_timeout((dqlite_node *)n, msecs);
}
static int shim_set_snapshot_compression(void *n, int enabled) {
	return dqlite_node_set_snapshot_compression((dqlite_node *)n, enabled != 0);
}
static int shim_set_network_latency_ms(void *n, unsigned msecs) {
	return dqlite_node_set_network_latency_ms((dqlite_node *)n, msecs);
}
static int shim_handover(void *n) {
	return dqlite_node_handover((dqlite_node *)n);
}
static void shim_destroy(void *n) {
	dqlite_node_destroy((dqlite_node *)n);
}
static const char *shim_errmsg(void *n) {
	return dqlite_node_errmsg((dqlite_node *)n);
}
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// Return codes, aligned with dqlitepy.exceptions.ErrorCode.
const (
	rcOK       = 0
	rcNoMem    = 1
	rcInvalid  = 2
	rcNotFound = 3
	rcMisuse   = 4
	rcNoLeader = 5
	rcInternal = 8
)

// shimError carries a return code along with the message.
type shimError struct {
	code int
	msg  string
}

func (e *shimError) Error() string { return e.msg }

func errf(code int, format string, args ...interface{}) error {
	return &shimError{code: code, msg: fmt.Sprintf(format, args...)}
}

// fail records err as the calling thread's last error and returns its code.
func fail(context string, err error) C.int {
	code := rcInternal
	if se, ok := err.(*shimError); ok {
		code = se.code
	}
	setLastError(context + ": " + err.Error())
	return C.int(code)
}

func goString(s *C.char) (string, bool) {
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}

func splitCSV(csv string) []string {
	var out []string
	for _, part := range strings.Split(csv, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ---------------------------------------------------------------- nodes --

//export dqlitepy_node_create
func dqlitepy_node_create(id C.dqlitepy_node_id, address *C.char, dataDir *C.char, outHandle *C.dqlitepy_handle) C.int {
	return nodeCreate("dqlitepy_node_create", id, address, dataDir, nil, outHandle)
}

//export dqlitepy_node_create_with_cluster
func dqlitepy_node_create_with_cluster(id C.dqlitepy_node_id, address *C.char, dataDir *C.char, clusterCSV *C.char, outHandle *C.dqlitepy_handle) C.int {
	csv, ok := goString(clusterCSV)
	if !ok {
		return fail("dqlitepy_node_create_with_cluster", errf(rcInvalid, "cluster list is NULL"))
	}
	cluster := splitCSV(csv)
	return nodeCreate("dqlitepy_node_create_with_cluster", id, address, dataDir, cluster, outHandle)
}

func nodeCreate(ctx string, id C.dqlitepy_node_id, address *C.char, dataDir *C.char, cluster []string, outHandle *C.dqlitepy_handle) C.int {
	addr, ok1 := goString(address)
	dir, ok2 := goString(dataDir)
	if !ok1 || !ok2 || outHandle == nil {
		return fail(ctx, errf(rcInvalid, "address, data_dir and handle_out must not be NULL"))
	}
	h, err := newNode(uint64(id), addr, dir, cluster)
	if err != nil {
		return fail(ctx, err)
	}
	*outHandle = C.dqlitepy_handle(h)
	return rcOK
}

//export dqlitepy_node_destroy
func dqlitepy_node_destroy(handle C.dqlitepy_handle) {
	n := takeNode(uint64(handle))
	if n == nil {
		return
	}
	if err := n.stop(); err != nil {
		setLastError("dqlitepy_node_destroy: " + err.Error())
	}
}

//export dqlitepy_node_set_bind_address
func dqlitepy_node_set_bind_address(handle C.dqlitepy_handle, address *C.char) C.int {
	const ctx = "dqlitepy_node_set_bind_address"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	addr, ok := goString(address)
	if !ok {
		return fail(ctx, errf(rcInvalid, "address is NULL"))
	}
	if err := n.setOption(func(n *node) { n.bindAddress = addr }); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_set_auto_recovery
func dqlitepy_node_set_auto_recovery(handle C.dqlitepy_handle, enabled C.int) C.int {
	const ctx = "dqlitepy_node_set_auto_recovery"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	if err := n.setOption(func(n *node) { n.autoRecovery = enabled != 0 }); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_set_busy_timeout
func dqlitepy_node_set_busy_timeout(handle C.dqlitepy_handle, msecs C.uint) C.int {
	const ctx = "dqlitepy_node_set_busy_timeout"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	v := uint(msecs)
	if err := n.setOption(func(n *node) { n.busyTimeoutMs = &v }); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_set_snapshot_compression
func dqlitepy_node_set_snapshot_compression(handle C.dqlitepy_handle, enabled C.int) C.int {
	const ctx = "dqlitepy_node_set_snapshot_compression"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	v := enabled != 0
	if err := n.setOption(func(n *node) { n.snapshotCompression = &v }); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_set_network_latency_ms
func dqlitepy_node_set_network_latency_ms(handle C.dqlitepy_handle, msecs C.uint) C.int {
	const ctx = "dqlitepy_node_set_network_latency_ms"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	if msecs == 0 || msecs > 3600*1000 {
		return fail(ctx, errf(rcInvalid, "network latency must be between 1 ms and 3600000 ms, got %d", uint(msecs)))
	}
	v := uint(msecs)
	if err := n.setOption(func(n *node) { n.networkLatencyMs = &v }); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_start
func dqlitepy_node_start(handle C.dqlitepy_handle) C.int {
	const ctx = "dqlitepy_node_start"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	if err := n.start(); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_handover
func dqlitepy_node_handover(handle C.dqlitepy_handle) C.int {
	const ctx = "dqlitepy_node_handover"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	if err := n.handover(); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_stop
func dqlitepy_node_stop(handle C.dqlitepy_handle) C.int {
	const ctx = "dqlitepy_node_stop"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	if err := n.stop(); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_open_db
func dqlitepy_node_open_db(handle C.dqlitepy_handle, dbName *C.char) C.int {
	const ctx = "dqlitepy_node_open_db"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	name, ok := goString(dbName)
	if !ok || name == "" {
		return fail(ctx, errf(rcInvalid, "database name is NULL or empty"))
	}
	if err := n.openDB(name); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_node_exec
func dqlitepy_node_exec(handle C.dqlitepy_handle, sql *C.char, outLastInsertID *C.int64_t, outRowsAffected *C.int64_t) C.int {
	const ctx = "dqlitepy_node_exec"
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	stmt, ok := goString(sql)
	if !ok {
		return fail(ctx, errf(rcInvalid, "sql is NULL"))
	}
	lastID, affected, err := n.exec(stmt)
	if err != nil {
		return fail(ctx, err)
	}
	if outLastInsertID != nil {
		*outLastInsertID = C.int64_t(lastID)
	}
	if outRowsAffected != nil {
		*outRowsAffected = C.int64_t(affected)
	}
	return rcOK
}

//export dqlitepy_node_query
func dqlitepy_node_query(handle C.dqlitepy_handle, sql *C.char, outJSON **C.char) C.int {
	const ctx = "dqlitepy_node_query"
	if outJSON == nil {
		return fail(ctx, errf(rcInvalid, "json_out is NULL"))
	}
	*outJSON = nil
	n, err := getNode(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	stmt, ok := goString(sql)
	if !ok {
		return fail(ctx, errf(rcInvalid, "sql is NULL"))
	}
	js, err := n.query(stmt)
	if err != nil {
		return fail(ctx, err)
	}
	*outJSON = C.CString(js)
	return rcOK
}

// -------------------------------------------------------------- clients --

//export dqlitepy_client_create
func dqlitepy_client_create(addressesCSV *C.char, outHandle *C.dqlitepy_handle) C.int {
	const ctx = "dqlitepy_client_create"
	csv, ok := goString(addressesCSV)
	if !ok || outHandle == nil {
		return fail(ctx, errf(rcInvalid, "addresses and handle_out must not be NULL"))
	}
	addrs := splitCSV(csv)
	if len(addrs) == 0 {
		return fail(ctx, errf(rcInvalid, "no cluster address given"))
	}
	h, err := newClient(addrs)
	if err != nil {
		return fail(ctx, err)
	}
	*outHandle = C.dqlitepy_handle(h)
	return rcOK
}

//export dqlitepy_client_close
func dqlitepy_client_close(handle C.dqlitepy_handle) C.int {
	const ctx = "dqlitepy_client_close"
	c := takeClient(uint64(handle))
	if c == nil {
		return fail(ctx, errf(rcNotFound, "unknown client handle %d", uint64(handle)))
	}
	c.close()
	return rcOK
}

//export dqlitepy_client_add
func dqlitepy_client_add(handle C.dqlitepy_handle, id C.dqlitepy_node_id, address *C.char) C.int {
	const ctx = "dqlitepy_client_add"
	c, err := getClient(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	addr, ok := goString(address)
	if !ok || addr == "" {
		return fail(ctx, errf(rcInvalid, "address is NULL or empty"))
	}
	if err := c.add(uint64(id), addr); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_client_remove
func dqlitepy_client_remove(handle C.dqlitepy_handle, id C.dqlitepy_node_id) C.int {
	const ctx = "dqlitepy_client_remove"
	c, err := getClient(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	if err := c.remove(uint64(id)); err != nil {
		return fail(ctx, err)
	}
	return rcOK
}

//export dqlitepy_client_leader
func dqlitepy_client_leader(handle C.dqlitepy_handle, outAddress **C.char) C.int {
	const ctx = "dqlitepy_client_leader"
	if outAddress == nil {
		return fail(ctx, errf(rcInvalid, "address_out is NULL"))
	}
	*outAddress = nil
	c, err := getClient(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	addr, err := c.leader()
	if err != nil {
		return fail(ctx, err)
	}
	*outAddress = C.CString(addr)
	return rcOK
}

//export dqlitepy_client_cluster
func dqlitepy_client_cluster(handle C.dqlitepy_handle, outJSON **C.char) C.int {
	const ctx = "dqlitepy_client_cluster"
	if outJSON == nil {
		return fail(ctx, errf(rcInvalid, "json_out is NULL"))
	}
	*outJSON = nil
	c, err := getClient(uint64(handle))
	if err != nil {
		return fail(ctx, err)
	}
	js, err := c.cluster()
	if err != nil {
		return fail(ctx, err)
	}
	*outJSON = C.CString(js)
	return rcOK
}

// ------------------------------------------------------------ utilities --

//export dqlitepy_last_error
func dqlitepy_last_error() *C.char {
	msg, ok := lastError()
	if !ok {
		return nil
	}
	return C.CString(msg)
}

//export dqlitepy_free
func dqlitepy_free(ptr unsafe.Pointer) {
	if ptr != nil {
		C.free(ptr)
	}
}

//export dqlitepy_generate_node_id
func dqlitepy_generate_node_id(address *C.char) C.dqlitepy_node_id {
	addr, _ := goString(address)
	return C.dqlitepy_node_id(generateID(addr))
}

//export dqlitepy_version_number
func dqlitepy_version_number() C.int {
	return C.int(C.dqlite_version_number())
}

var (
	versionOnce sync.Once
	versionStr  *C.char // allocated once, never freed: "static" for callers
)

//export dqlitepy_version_string
func dqlitepy_version_string() *C.char {
	versionOnce.Do(func() {
		v := int(C.dqlite_version_number())
		versionStr = C.CString(fmt.Sprintf("%d.%d.%d", v/10000, (v/100)%100, v%100))
	})
	return versionStr
}

// ------------------------------------------- libdqlite direct accessors --

// These act on the dqlite_node that go-dqlite wraps; go-dqlite v2 does not
// expose busy timeout, snapshot compression, latency in ms or handover.

func cSetBusyTimeout(p unsafe.Pointer, msecs uint) int {
	return int(C.shim_set_busy_timeout(p, C.uint(msecs)))
}

func cSetSnapshotCompression(p unsafe.Pointer, on bool) int {
	v := 0
	if on {
		v = 1
	}
	return int(C.shim_set_snapshot_compression(p, C.int(v)))
}

func cSetNetworkLatencyMs(p unsafe.Pointer, msecs uint) int {
	return int(C.shim_set_network_latency_ms(p, C.uint(msecs)))
}

func cHandover(p unsafe.Pointer) int {
	return int(C.shim_handover(p))
}

// cDestroy frees a dqlite_node that was never started (go-dqlite's Close
// only destroys a node after a successful stop).
func cDestroy(p unsafe.Pointer) {
	C.shim_destroy(p)
}

func cErrmsg(p unsafe.Pointer) string {
	if m := C.shim_errmsg(p); m != nil {
		return C.GoString(m)
	}
	return ""
}

func main() {}
