package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	dqlite "github.com/canonical/go-dqlite/v2"
	"github.com/canonical/go-dqlite/v2/client"
	dqdriver "github.com/canonical/go-dqlite/v2/driver"
)

// node is one dqlitepy Node handle. dqlitepy sets the bind address, auto
// recovery, busy timeout, snapshot compression and network latency *after*
// create, while go-dqlite takes most of them at construction; so the dqlite
// node itself is only built by start(), with every recorded setting applied
// before dqlite_node_start().
type node struct {
	mu sync.Mutex

	id      uint64
	address string
	dir     string
	cluster []string // all members (this one included), from create_with_cluster
	autoID  bool     // id is generateID(address): dqlitepy's default

	bindAddress         string
	autoRecovery        bool
	busyTimeoutMs       *uint
	snapshotCompression *bool
	networkLatencyMs    *uint

	dq       *dqlite.Node
	running  bool
	joinStop chan struct{}

	db     *sql.DB
	conn   *sql.Conn
	dbName string
	inTx   bool // an explicit transaction is open on conn
}

const idFileName = "dqlitepy-node-id"

func newNode(id uint64, address, dir string, cluster []string) (uint64, error) {
	if id == 0 {
		return 0, errf(rcInvalid, "node id must not be 0")
	}
	if address == "" || !strings.Contains(address, ":") {
		return 0, errf(rcInvalid, "address %q is not of the form HOST:PORT", address)
	}
	if dir == "" {
		return 0, errf(rcInvalid, "data_dir is empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, errf(rcInvalid, "create data dir: %v", err)
	}
	if err := checkIDFile(dir, id); err != nil {
		return 0, err
	}
	n := &node{
		id:           id,
		address:      address,
		dir:          dir,
		cluster:      cluster,
		autoID:       id == generateID(address),
		autoRecovery: true, // go-dqlite's and dqlite's default
	}
	h := register(n, nil)
	debugf("node handle %d: id=%d address=%s dir=%s cluster=%v auto_id=%v", h, id, address, dir, cluster, n.autoID)
	return h, nil
}

// setOption records a setting; settings only take effect at start.
func (n *node) setOption(f func(*node)) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return errf(rcMisuse, "node %d is running: settings apply at start, stop it first", n.id)
	}
	f(n)
	return nil
}

// ----------------------------------------------------------- data dir --

var raftFile = regexp.MustCompile(`^([0-9]{16}-[0-9]{16}|open-[0-9]+|snapshot-[0-9]+-[0-9]+-[0-9]+(\.meta)?)$`)

// hasRaftLog tells whether dir holds raft log entries or snapshots, i.e. a
// node has been bootstrapped, recovered or joined with this directory.
func hasRaftLog(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if raftFile.MatchString(e.Name()) {
			return true
		}
	}
	return false
}

// checkIDFile refuses to start a data directory under another node id: raft
// would find itself outside its own configuration and never elect a leader.
func checkIDFile(dir string, id uint64) error {
	data, err := os.ReadFile(filepath.Join(dir, idFileName))
	if err != nil || !hasRaftLog(dir) {
		return nil
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return nil
	}
	stored, err := strconv.ParseUint(fields[0], 10, 64)
	if err != nil || stored == id {
		return nil
	}
	return errf(rcInvalid, "data dir %s belongs to node id %d, not %d (the default id is derived from the address: "+
		"restart with the same address, or pass node_id=%d)", dir, stored, id, stored)
}

func writeIDFile(dir string, id uint64, address string) {
	p := filepath.Join(dir, idFileName)
	_ = os.WriteFile(p+".tmp", []byte(fmt.Sprintf("%d %s\n", id, address)), 0o644)
	_ = os.Rename(p+".tmp", p)
}

// ------------------------------------------------------- C node access --

// cNode returns the dqlite_node that a go-dqlite Node wraps (the unexported
// fields dqlite.Node.server -> bindings.Node.node of go-dqlite v2.0.0). The
// pointer is C memory, so handing it to C is fine.
func cNode(dq *dqlite.Node) (unsafe.Pointer, error) {
	v := reflect.ValueOf(dq)
	if v.Kind() != reflect.Ptr || v.IsNil() {
		return nil, errf(rcMisuse, "node is not running")
	}
	srv := v.Elem().FieldByName("server")
	if !srv.IsValid() || srv.Kind() != reflect.Ptr || srv.IsNil() {
		return nil, errf(rcInternal, "unsupported go-dqlite layout (dqlite.Node.server)")
	}
	cn := srv.Elem().FieldByName("node")
	if !cn.IsValid() || cn.Kind() != reflect.Ptr || cn.IsNil() {
		return nil, errf(rcInternal, "unsupported go-dqlite layout (bindings.Node.node)")
	}
	return cn.UnsafePointer(), nil
}

// ---------------------------------------------------------- lifecycle --

func (n *node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return errf(rcMisuse, "node %d is already running", n.id)
	}
	fresh := !hasRaftLog(n.dir)
	// With a member list, its first address forms the cluster (dqlite itself
	// bootstraps ids 1 and BootstrapID) and every other member joins it.
	first := len(n.cluster) > 0 && n.cluster[0] == n.address
	if err := n.startLocked(fresh && first && !selfBootstrapping(n.id)); err != nil {
		return err
	}
	if len(n.cluster) > 0 && !first && !selfBootstrapping(n.id) {
		n.joinStop = make(chan struct{})
		go joinLoop(n.joinStop, n.id, n.address, n.cluster)
	}
	return nil
}

// startLocked builds the dqlite node with the recorded settings and starts
// it. With bootstrap, the fresh data dir first gets a configuration with this
// node as its only voter (see bootstrapDir).
func (n *node) startLocked(bootstrap bool) error {
	if bootstrap {
		if err := bootstrapDir(n.dir, n.id, n.address); err != nil {
			return err
		}
	}
	opts := []dqlite.Option{dqlite.WithAutoRecovery(n.autoRecovery)}
	// dqlite only listens once a bind address is set (dqlite_node_start
	// asserts on a missing listener): default to the node's own address.
	bind := n.bindAddress
	if bind == "" {
		bind = n.address
	}
	opts = append(opts, dqlite.WithBindAddress(bind))
	dq, err := dqlite.New(n.id, n.address, n.dir, opts...)
	if err != nil {
		return errf(rcInternal, "create dqlite node %d at %s: %v", n.id, n.address, err)
	}
	p, perr := cNode(dq)
	destroy := func() {
		if perr == nil {
			cDestroy(p)
		}
	}
	if n.busyTimeoutMs != nil || n.snapshotCompression != nil || n.networkLatencyMs != nil {
		if perr != nil {
			destroy()
			return perr
		}
		if n.busyTimeoutMs != nil {
			if rc := cSetBusyTimeout(p, *n.busyTimeoutMs); rc != 0 {
				destroy()
				return errf(rcInternal, "set busy timeout: rc=%d", rc)
			}
		}
		if n.snapshotCompression != nil {
			if rc := cSetSnapshotCompression(p, *n.snapshotCompression); rc != 0 {
				destroy()
				return errf(rcInternal, "set snapshot compression: rc=%d", rc)
			}
		}
		if n.networkLatencyMs != nil {
			if rc := cSetNetworkLatencyMs(p, *n.networkLatencyMs); rc != 0 {
				destroy()
				return errf(rcInternal, "set network latency: rc=%d", rc)
			}
		}
	}
	if err := dq.Start(); err != nil {
		msg := err.Error()
		if perr == nil {
			if m := cErrmsg(p); m != "" && !strings.Contains(msg, m) {
				msg += ": " + m
			}
		}
		destroy()
		return errf(rcInternal, "start node %d at %s: %s", n.id, n.address, msg)
	}
	n.dq = dq
	n.running = true
	writeIDFile(n.dir, n.id, n.address)
	if bootstrap {
		if err := waitLeader(n.address, n.id); err != nil {
			return err
		}
	}
	debugf("node %d started at %s", n.id, n.address)
	return nil
}

func (n *node) stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked()
}

func (n *node) stopLocked() error {
	if !n.running {
		return nil
	}
	if n.joinStop != nil {
		close(n.joinStop)
		n.joinStop = nil
	}
	n.closeDBLocked()
	err := n.dq.Close()
	n.dq = nil
	n.running = false
	if err != nil {
		return errf(rcInternal, "stop node %d: %v", n.id, err)
	}
	debugf("node %d stopped", n.id)
	return nil
}

func (n *node) handover() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return errf(rcMisuse, "node %d is not running", n.id)
	}
	p, err := cNode(n.dq)
	if err != nil {
		return err
	}
	// dqlite_node_handover() never returns on a node without any raft
	// configuration (its cluster poll has nothing to poll, so its callback
	// never fires): such a node has nothing to hand over.
	if pristine, err := n.pristineLocked(); err == nil && pristine {
		debugf("node %d: handover: not part of a cluster, nothing to do", n.id)
		return nil
	}
	done := make(chan int, 1)
	go func() { done <- cHandover(p) }()
	select {
	case rc := <-done:
		if rc == 0 {
			return nil
		}
		// dqlite reports DQLITE_ERROR whenever one of its two steps had
		// nothing to do: leadership transfer with no other voter, or voter
		// role transfer with no online stand-by/spare to promote (as in any
		// all-voter cluster, even after leadership did move). Judge by the
		// outcome: this node must no longer lead, unless no one else can.
		if ok, why := n.handedOverLocked(); ok {
			debugf("node %d: handover rc=%d, accepted: %s", n.id, rc, why)
			return nil
		} else {
			return errf(rcInternal, "handover of node %d failed (rc=%d): %s", n.id, rc, why)
		}
	case <-time.After(timeout()):
		return errf(rcInternal, "handover of node %d did not complete within %s", n.id, timeout())
	}
}

// handedOverLocked tells whether, after a handover, this node is no longer
// the leader or there is no other voter that could have taken over.
func (n *node) handedOverLocked() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := client.New(ctx, n.address)
	if err != nil {
		return false, err.Error()
	}
	defer cli.Close()
	leader, err := cli.Leader(ctx)
	if err != nil {
		return false, err.Error()
	}
	if leader.ID != n.id {
		return true, fmt.Sprintf("leader is now %d (%s)", leader.ID, leader.Address)
	}
	cl, err := cli.Cluster(ctx)
	if err != nil {
		return false, err.Error()
	}
	for _, s := range cl {
		if s.ID != n.id && s.Role == client.Voter {
			return false, fmt.Sprintf("still the leader although voter %d (%s) could take over", s.ID, s.Address)
		}
	}
	return true, "no other voter to hand over to"
}

// ---------------------------------------------------------- bootstrap --

// pristineLocked tells whether the running node has no raft configuration at
// all: never bootstrapped and never added to a cluster.
func (n *node) pristineLocked() (bool, error) {
	cl, err := localCluster(n.address)
	if err != nil {
		return false, err
	}
	return len(cl) == 0, nil
}

// ensureClusterLocked gives a node created with dqlitepy's default id (and no
// member list) a cluster of its own the first time it needs a leader, unless
// it has been added to a cluster meanwhile.
//
// This is why a prototype hung in open_db without node_id: dqlite bootstraps
// a fresh data dir only for node id 1 or BootstrapID, so a node with a
// generated id never had a configuration, never elected a leader, and the
// driver searched for one forever. Bootstrapping at start instead would break
// dqlitepy's README clustering example, where the second node is also created
// without node_id and then added through Client.add(): a node that formed its
// own cluster cannot join another. So it is deferred until open_db() or a
// Client pointed only at local pristine nodes needs a leader.
func (n *node) ensureClusterLocked() error {
	if !n.running {
		return errf(rcMisuse, "node %d is not running", n.id)
	}
	if len(n.cluster) > 0 || selfBootstrapping(n.id) {
		return nil
	}
	pristine, err := n.pristineLocked()
	if err != nil || !pristine {
		return nil // let the leader search report problems
	}
	if !n.autoID {
		return errf(rcNoLeader, "node %d (%s) is not part of a cluster yet: add it through a Client "+
			"connected to the cluster (Client.add(%d, %q)), or use node_id=1 (or no node_id) to form a new cluster",
			n.id, n.address, n.id, n.address)
	}
	debugf("node %d: pristine node with a generated id needs a leader: bootstrapping", n.id)
	if err := n.stopLocked(); err != nil {
		return err
	}
	return n.startLocked(true)
}

// bootstrapDir gives a fresh data dir a raft configuration with node id as
// its only voter, using only dqlite's public API.
//
// dqlite_node_start() bootstraps (raft_bootstrap: term 1 + configuration
// entry) only for ids 1 and BootstrapID, and recovering a fresh dir directly
// (dqlite_node_recover_ext) writes the configuration entry but leaves the term
// at 0, which trips "logAppend: Assertion `term > 0'" on the first write. So:
// start and stop a throwaway node with id 1 (bound to an abstract unix
// socket, so no TCP port is touched), which writes a proper bootstrap, then
// replace its configuration with the real node's (a single voter does not
// append a no-op entry on election, so the log stays {1: config(id 1)}, then
// {2: config(id)}).
func bootstrapDir(dir string, id uint64, address string) error {
	debugf("node %d: bootstrapping %s as a single-voter cluster", id, dir)
	bind := fmt.Sprintf("@dqlitepy-bootstrap-%d-%d", os.Getpid(), id)
	tmp, err := dqlite.New(1, address, dir, dqlite.WithBindAddress(bind))
	if err != nil {
		return errf(rcInternal, "bootstrap %s: create: %v", dir, err)
	}
	if err := tmp.Start(); err != nil {
		if p, perr := cNode(tmp); perr == nil {
			cDestroy(p)
		}
		return errf(rcInternal, "bootstrap %s: start: %v", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return errf(rcInternal, "bootstrap %s: stop: %v", dir, err)
	}
	err = dqlite.ReconfigureMembershipExt(dir, []dqlite.NodeInfo{{ID: id, Address: address, Role: client.Voter}})
	if err != nil {
		return errf(rcInternal, "bootstrap %s: configure node %d: %v", dir, id, err)
	}
	return nil
}

// localCluster asks the node at address for its view of the configuration.
func localCluster(address string) ([]client.NodeInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := client.New(ctx, address)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return cli.Cluster(ctx)
}

// waitLeader waits until the node at address reports id as the leader.
func waitLeader(address string, id uint64) error {
	deadline := time.Now().Add(timeout())
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cli, err := client.New(ctx, address)
		if err == nil {
			var info *client.NodeInfo
			info, err = cli.Leader(ctx)
			cli.Close()
			if err == nil && info.ID == id {
				cancel()
				return nil
			}
		}
		cancel()
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return errf(rcNoLeader, "node %d at %s did not become leader within %s (last error: %v)", id, address, timeout(), last)
}

// joinLoop adds a fresh member of a create_with_cluster node list to the
// cluster formed by the list's first node, retrying until it is a voter or
// the node stops.
func joinLoop(stop chan struct{}, id uint64, address string, members []string) {
	var peers []client.NodeInfo
	for _, m := range members {
		if m != address {
			peers = append(peers, client.NodeInfo{Address: m})
		}
	}
	for {
		err := tryJoin(id, address, peers)
		if err == nil {
			debugf("node %d: member of the cluster", id)
			return
		}
		debugf("node %d: join: %v", id, err)
		select {
		case <-stop:
			return
		case <-time.After(time.Second):
		}
	}
}

func tryJoin(id uint64, address string, peers []client.NodeInfo) error {
	if cl, err := localCluster(address); err == nil {
		for _, s := range cl {
			if s.ID == id && s.Role == client.Voter {
				return nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store := client.NewInmemNodeStore()
	if err := store.Set(ctx, peers); err != nil {
		return err
	}
	cli, err := client.FindLeader(ctx, store)
	if err != nil {
		return err
	}
	defer cli.Close()
	return ensureVoter(ctx, cli, id, address)
}

// ensureVoter makes node id a voter of the leader's cluster, idempotently.
func ensureVoter(ctx context.Context, cli *client.Client, id uint64, address string) error {
	cl, err := cli.Cluster(ctx)
	if err != nil {
		return err
	}
	for _, s := range cl {
		if s.ID == id {
			if s.Address != address {
				return errf(rcInvalid, "node id %d is already a member with address %s", id, s.Address)
			}
			if s.Role == client.Voter {
				return nil
			}
			return cli.Assign(ctx, id, client.Voter)
		}
		if s.Address == address {
			return errf(rcInvalid, "address %s is already used by member %d", address, s.ID)
		}
	}
	return cli.Add(ctx, client.NodeInfo{ID: id, Address: address, Role: client.Voter})
}

// ------------------------------------------------------------ database --

func logFunc(l client.LogLevel, format string, a ...interface{}) {
	debugf("go-dqlite %s: %s", l.String(), fmt.Sprintf(format, a...))
}

func (n *node) openDB(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.ensureClusterLocked(); err != nil {
		return err
	}
	// Candidate servers for the leader search: this node, the member list
	// and the configuration this node knows about.
	seen := map[string]bool{}
	var infos []client.NodeInfo
	addInfo := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			infos = append(infos, client.NodeInfo{Address: a})
		}
	}
	addInfo(n.address)
	for _, a := range n.cluster {
		addInfo(a)
	}
	if cl, err := localCluster(n.address); err == nil {
		for _, s := range cl {
			addInfo(s.Address)
		}
	}
	store := client.NewInmemNodeStore()
	if err := store.Set(context.Background(), infos); err != nil {
		return errf(rcInternal, "node store: %v", err)
	}
	drv, err := dqdriver.New(store, dqdriver.WithLogFunc(logFunc), dqdriver.WithAttemptTimeout(5*time.Second))
	if err != nil {
		return errf(rcInternal, "dqlite driver: %v", err)
	}
	connector, err := drv.OpenConnector(name)
	if err != nil {
		return errf(rcInternal, "dqlite connector: %v", err)
	}
	db := sql.OpenDB(connector)
	// One connection, kept for the node's lifetime: BEGIN/COMMIT/ROLLBACK
	// arrive as separate exec() calls and must hit the same connection.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	conn, err := connectDB(db)
	if err != nil {
		db.Close()
		return err
	}
	n.closeDBLocked()
	n.db, n.conn, n.dbName = db, conn, name
	debugf("node %d: opened database %q", n.id, name)
	return nil
}

func connectDB(db *sql.DB) (*sql.Conn, error) {
	ctx, cancel := withTimeout()
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errf(rcNoLeader, "no dqlite leader reachable within %s: %v", timeout(), err)
		}
		return nil, errf(rcInternal, "connect to database: %v", err)
	}
	return conn, nil
}

func (n *node) closeDBLocked() {
	n.inTx = false
	if n.conn != nil {
		n.conn.Close()
		n.conn = nil
	}
	if n.db != nil {
		n.db.Close()
		n.db = nil
	}
}

// connLocked returns the database connection, reconnecting after the previous
// one broke (for example after a leadership change).
func (n *node) connLocked() (*sql.Conn, error) {
	if n.db == nil {
		return nil, errf(rcMisuse, "no database is open: call open_db() first")
	}
	if n.conn == nil {
		conn, err := connectDB(n.db)
		if err != nil {
			return nil, err
		}
		n.conn = conn
	}
	return n.conn, nil
}

// isBadConn: the connection is unusable (leader gone or changed); by
// database/sql's contract the statement was not executed.
func isBadConn(err error) bool {
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

var (
	beginRe = regexp.MustCompile(`(?i)^\s*BEGIN\b`)
	endRe   = regexp.MustCompile(`(?i)^\s*(COMMIT|END)\b|^\s*ROLLBACK\s*(TRANSACTION\s*)?;?\s*$`)
)

// trackTx follows explicit transactions issued through exec(): statements
// inside one must never be retried on a new connection.
func (n *node) trackTx(stmt string) {
	switch {
	case beginRe.MatchString(stmt):
		n.inTx = true
	case endRe.MatchString(stmt):
		n.inTx = false
	}
}

// withConn runs op on the database connection. When the connection broke
// (typically: leadership moved), it reconnects to the current leader and
// retries once, unless an explicit transaction was open: that transaction is
// gone, which is reported instead.
func (n *node) withConn(stmt string, op func(ctx context.Context, conn *sql.Conn) error) error {
	for attempt := 0; ; attempt++ {
		conn, err := n.connLocked()
		if err != nil {
			return err
		}
		ctx, cancel := stmtTimeout()
		err = op(ctx, conn)
		cancel()
		if err == nil {
			n.trackTx(stmt)
			return nil
		}
		if !isBadConn(err) {
			return errf(rcInternal, "%v", err)
		}
		n.conn.Close()
		n.conn = nil
		if n.inTx {
			n.inTx = false
			return errf(rcInternal, "connection to the dqlite leader lost, the open transaction is rolled back: %v", err)
		}
		if attempt > 0 {
			return errf(rcInternal, "%v", err)
		}
		debugf("node %d: connection lost (%v), reconnecting to the leader", n.id, err)
	}
}

func stmtTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 4*timeout())
}

func (n *node) exec(stmt string) (int64, int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var lastID, affected int64
	err := n.withConn(stmt, func(ctx context.Context, conn *sql.Conn) error {
		res, err := conn.ExecContext(ctx, stmt)
		if err != nil {
			return err
		}
		lastID, _ = res.LastInsertId()
		affected, _ = res.RowsAffected()
		return nil
	})
	return lastID, affected, err
}

func (n *node) query(stmt string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var js string
	err := n.withConn(stmt, func(ctx context.Context, conn *sql.Conn) error {
		rows, err := conn.QueryContext(ctx, stmt)
		if err != nil {
			return err
		}
		js, err = rowsToJSON(rows)
		return err
	})
	return js, err
}
