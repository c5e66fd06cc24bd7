package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ------------------------------------------------------------ last error --

// Errors are kept per OS thread, like errno: a C caller's thread stays the
// same for the whole call into Go, and Python reads the message right after
// the failing call on the same thread. Reading does not clear it.
var (
	errMu    sync.Mutex
	errByTID = map[int]string{}
)

func setLastError(msg string) {
	errMu.Lock()
	errByTID[syscall.Gettid()] = msg
	errMu.Unlock()
	debugf("error: %s", msg)
}

func lastError() (string, bool) {
	errMu.Lock()
	defer errMu.Unlock()
	msg, ok := errByTID[syscall.Gettid()]
	return msg, ok
}

// --------------------------------------------------------------- handles --

var (
	tableMu    sync.Mutex
	nextHandle uint64 = 1
	nodes             = map[uint64]*node{}
	clients           = map[uint64]*clientH{}
)

func register(n *node, c *clientH) uint64 {
	tableMu.Lock()
	defer tableMu.Unlock()
	h := nextHandle
	nextHandle++
	if n != nil {
		nodes[h] = n
	} else {
		clients[h] = c
	}
	return h
}

func getNode(h uint64) (*node, error) {
	tableMu.Lock()
	defer tableMu.Unlock()
	if n, ok := nodes[h]; ok {
		return n, nil
	}
	return nil, errf(rcNotFound, "unknown node handle %d", h)
}

func takeNode(h uint64) *node {
	tableMu.Lock()
	defer tableMu.Unlock()
	n := nodes[h]
	delete(nodes, h)
	return n
}

func getClient(h uint64) (*clientH, error) {
	tableMu.Lock()
	defer tableMu.Unlock()
	if c, ok := clients[h]; ok {
		return c, nil
	}
	return nil, errf(rcNotFound, "unknown client handle %d", h)
}

func takeClient(h uint64) *clientH {
	tableMu.Lock()
	defer tableMu.Unlock()
	c := clients[h]
	delete(clients, h)
	return c
}

// localNodes returns the nodes of this process, for address lookups.
func localNodes() []*node {
	tableMu.Lock()
	defer tableMu.Unlock()
	out := make([]*node, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n)
	}
	return out
}

// -------------------------------------------------------------- node ids --

// bootstrapID is dqlite's magic id of a cluster's first node (BOOTSTRAP_ID in
// dqlite's server.c, dqlite.BootstrapID in go-dqlite). dqlite_node_start()
// bootstraps a fresh data directory only for id 1 or this id.
const bootstrapID = 0x2dc171858c3155be

func selfBootstrapping(id uint64) bool { return id == 1 || id == bootstrapID }

// generateID derives a node id from the address, deterministically.
//
// dqlite's own dqlite_generate_node_id() hashes the address with the current
// time, so every Node(address, data_dir) without node_id would get a new id,
// and a restarted node would no longer match the id recorded in its raft
// configuration. A stable id per address makes the README's "no node_id"
// usage restartable. The result is never 0, 1 or bootstrapID and fits in 63
// bits.
func generateID(address string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("dqlitepy-node-id:"))
	h.Write([]byte(address))
	id := h.Sum64() & 0x7fffffffffffffff
	if id < 2 || id == bootstrapID {
		id += 2
	}
	return id
}

// ------------------------------------------------------------- settings --

// timeout bounds every wait for a leader, a connection or a membership
// change; DQLITEPY_SHIM_TIMEOUT (seconds) overrides the default.
func timeout() time.Duration {
	if v := os.Getenv("DQLITEPY_SHIM_TIMEOUT"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
			return time.Duration(s * float64(time.Second))
		}
	}
	return 30 * time.Second
}

func withTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), timeout())
}

var debugOn = os.Getenv("DQLITEPY_SHIM_DEBUG") != ""

func debugf(format string, args ...interface{}) {
	if debugOn {
		os.Stderr.WriteString("dqlitepy-shim: " + fmt.Sprintf(format, args...) + "\n")
	}
}
