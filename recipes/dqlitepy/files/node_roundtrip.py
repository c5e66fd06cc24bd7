#!/usr/bin/env python3
"""End-to-end check of dqlitepy over its bundled libdqlitepy.so.

Usage: node_roundtrip.py [WORKDIR]

Runs dqlitepy's own Python code against the native shim: the C ABI surface,
error reporting, a node created without node_id (dqlitepy's default), SQL
round trips with every SQLite value type, rolled-back and committed
transactions, the DB-API layer, a restart on the same data directory, the
README's context-manager and clustering examples (second node joined through
Client.add), handover, and a cluster formed from a member list.

Only the standard library and dqlitepy are needed; every node listens on
127.0.0.1 with a free port. Data goes to WORKDIR (default: a new temporary
directory, removed on success). Exits 0 on success, 1 on a failed check, 2
on an unexpected error, 3 on timeout (DQLITEPY_TEST_TIMEOUT seconds, default
600, for slow emulators).
"""

import faulthandler
import json
import logging
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import traceback

STEP = "start-up"
T0 = time.monotonic()


def step(name):
    global STEP
    STEP = name
    print(f"--- [{time.monotonic() - T0:6.1f}s] {name}", flush=True)


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(f"[{STEP}] {what}")
    print(f"ok: {what}", flush=True)


def free_addr():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def wait_for(pred, what, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # retried until the deadline
            last = exc
        time.sleep(interval)
    raise CheckFailed(f"[{STEP}] timed out waiting for {what} (last error: {last!r})")


def run(work):
    step("import and ABI surface")
    import dqlitepy
    from dqlitepy import Client, Node, dbapi
    from dqlitepy import _ffi

    lib = _ffi.get_library()
    ffi = _ffi.ffi
    print(f"library: {_ffi._library_path}")
    print(f"platform tag: {_ffi._platform_tag()}")
    with open(_ffi.__file__, encoding="utf-8") as f:
        declared = sorted(set(re.findall(r"\b(dqlitepy_\w+)\s*\(", f.read())))
    missing = []
    for name in declared:
        try:
            getattr(lib, name)
        except AttributeError:
            missing.append(name)
    check(len(declared) >= 25 and not missing,
          f"all {len(declared)} functions of _ffi.py's cdef resolve (missing: {missing})")
    number, string = dqlitepy.get_version()
    print(f"version: {number} {string!r}")
    check(number >= 11700 and string == f"{number // 10000}.{number // 100 % 100}.{number % 100}",
          "version number and string agree (dqlite >= 1.17)")

    step("error reporting")
    rc = lib.dqlitepy_node_start(987654321)
    check(rc != 0, f"start on an unknown handle fails (rc={rc})")
    m1 = lib.dqlitepy_last_error()
    m2 = lib.dqlitepy_last_error()
    check(m1 != ffi.NULL and m2 != ffi.NULL and m1 != m2,
          "last_error returns a fresh copy on every call")
    s1, s2 = ffi.string(m1).decode(), ffi.string(m2).decode()
    lib.dqlitepy_free(m1)
    lib.dqlitepy_free(m2)
    check(s1 == s2 and "987654321" in s1, f"last_error is not cleared by reading: {s1!r}")
    try:
        Node("127.0.0.1:1", os.path.join(work, "bad"), node_id=0)
    except dqlitepy.NodeError as exc:
        check("must not be 0" in str(exc), f"node_id=0 raises NodeError with the shim's message")
    else:
        raise CheckFailed("node_id=0 was accepted")

    hp = ffi.new("dqlitepy_handle *")
    rc = lib.dqlitepy_node_create(7, free_addr().encode(), os.path.join(work, "destroyed").encode(), hp)
    check(rc == 0 and hp[0] != 0, "raw node_create returns a handle")
    lib.dqlitepy_node_destroy(hp[0])
    check(lib.dqlitepy_node_start(hp[0]) != 0, "a destroyed handle is gone")

    step("node without node_id: start, open_db, SQL")
    addr1 = free_addr()
    dir1 = os.path.join(work, "node1")
    node = Node(addr1, dir1)
    expected_id = int(lib.dqlitepy_generate_node_id(addr1.encode()))
    check(node.id == expected_id and node.id not in (0, 1),
          f"default id comes from dqlitepy_generate_node_id ({node.id})")
    check(int(lib.dqlitepy_generate_node_id(addr1.encode())) == expected_id,
          "generated id is stable for an address")
    node.start()
    check(node.is_running, "node started")
    t0 = time.monotonic()
    node.open_db("roundtrip.db")
    print(f"open_db took {time.monotonic() - t0:.2f}s")
    node.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB, note TEXT)")
    last_id, affected = node.exec(
        "INSERT INTO items (name, score, data, note) VALUES ('alpha', 1.5, X'00ff10', NULL)")
    check((last_id, affected) == (1, 1), f"insert returns (last_insert_id, rows_affected) = {(last_id, affected)}")
    last_id, affected = node.exec(
        "INSERT INTO items (name, score, data) VALUES ('beta', 3.0, X''), ('gamma \u00e9\u4e2d \"q\"', -2.25e-300, randomblob(0))")
    check((last_id, affected) == (3, 2), f"multi-row insert returns {(last_id, affected)}")
    node.exec("INSERT INTO items (name, score) VALUES ('inf', 1e999)")
    rows = node.query("SELECT id, name, score, data, note FROM items ORDER BY id")
    print(json.dumps(rows, ensure_ascii=False))
    check(len(rows) == 4, "four rows back")
    check(list(rows[0].keys()) == ["id", "name", "score", "data", "note"], "keys keep SELECT order")
    check(rows[0]["id"] == 1 and rows[0]["name"] == "alpha" and rows[0]["note"] is None,
          "INTEGER, TEXT and NULL round-trip")
    check(bytes(rows[0]["data"]) == b"\x00\xff\x10", "BLOB round-trips losslessly (bytes(value))")
    check(bytes(rows[1]["data"]) == b"", "empty BLOB round-trips")
    check(isinstance(rows[1]["score"], float) and rows[1]["score"] == 3.0, "REAL 3.0 stays a float")
    # SQLite parses the SQL literal itself; without an 80-bit long double
    # (ARM) its text-to-double conversion may be off by one ulp.
    check(rows[2]["name"] == 'gamma \u00e9\u4e2d "q"'
          and math.isclose(rows[2]["score"], -2.25e-300, rel_tol=1e-15, abs_tol=0.0),
          "unicode TEXT and tiny REAL round-trip")
    check(math.isinf(rows[3]["score"]) and rows[3]["data"] is None, "REAL infinity round-trips")
    check(node.query("SELECT 1 AS one WHERE 0") == [], "empty result is []")
    try:
        node.exec("INSERT INTO no_such_table VALUES (1)")
    except dqlitepy.NodeError as exc:
        check("no_such_table" in str(exc), "SQL errors raise NodeError with SQLite's message")
    else:
        raise CheckFailed("bad SQL did not raise")

    step("transactions")
    count = lambda: node.query("SELECT count(*) AS n FROM items")[0]["n"]
    node.begin()
    node.exec("INSERT INTO items (name) VALUES ('rolled-back-1')")
    node.exec("INSERT INTO items (name) VALUES ('rolled-back-2')")
    check(count() == 6, "rows visible inside the transaction")
    node.rollback()
    check(count() == 4 and node.query("SELECT id FROM items WHERE name LIKE 'rolled-back%'") == [],
          "rolled-back rows are gone")
    node.begin()
    node.exec("INSERT INTO items (name) VALUES ('committed-1')")
    node.exec("UPDATE items SET note = 'touched' WHERE name = 'alpha'")
    node.commit()
    check(count() == 5, "committed row is there")
    check(node.query("SELECT note FROM items WHERE name = 'alpha'")[0]["note"] == "touched",
          "committed update is there")

    step("DB-API")
    conn = dbapi.connect(node, "roundtrip.db")
    cur = conn.cursor()
    cur.execute("INSERT INTO items (name, score, data) VALUES (?, ?, ?)", ("it's", 0.5, b"\x01\x02"))
    check(cur.rowcount == 1 and cur.lastrowid is not None, "cursor insert with parameters")
    cur.execute("SELECT name, score, data FROM items WHERE name = ?", ("it's",))
    row = cur.fetchone()
    check(row[0] == "it's" and row[1] == 0.5 and bytes(row[2]) == b"\x01\x02", f"cursor fetch {row!r}")
    conn.close()

    step("stop and restart on the same data dir")
    node.stop()
    check(not node.is_running, "node stopped")
    node.close()
    node = Node(addr1, dir1)
    check(node.id == expected_id, "same default id after restart")
    node.start()
    node.open_db("roundtrip.db")
    names = [r["name"] for r in node.query("SELECT name FROM items ORDER BY id")]
    check(names == ["alpha", "beta", 'gamma \u00e9\u4e2d "q"', "inf", "committed-1", "it's"],
          f"rows intact after restart: {names}")
    node.exec("INSERT INTO items (name) VALUES ('after-restart')")
    check(count() == 7, "writable after restart")
    node.stop()
    node.close()
    try:
        Node(free_addr(), dir1)
    except dqlitepy.NodeError as exc:
        check("belongs to node id" in str(exc), "reusing a data dir under another id is refused")
    else:
        raise CheckFailed("data dir reused under another node id")

    step("README: Node as a context manager")
    with Node(address=free_addr(), data_dir=os.path.join(work, "ctx")) as cnode:
        print(f"Node {cnode.id} running at {cnode.address}")
        check(cnode.is_running, "context-managed node runs")
    cnode.stop()

    step("README: clustering (second node joined through Client)")
    a1, a2 = free_addr(), free_addr()
    node1 = Node(a1, os.path.join(work, "cluster1"))
    node1.start()
    with Client([a1]) as client:
        node2 = Node(a2, os.path.join(work, "cluster2"))
        node2.start()
        client.add(node2.id, a2)
        leader = client.leader()
        nodes = client.cluster()
        print(f"Leader: {leader}")
        for n in nodes:
            print(f"  Node {n.id}: {n.address} ({n.role_name})")
        check(leader == a1, "the first node leads")
        check(sorted((n.id, n.address, n.role_name) for n in nodes)
              == sorted([(node1.id, a1, "Voter"), (node2.id, a2, "Voter")]),
              "cluster lists both nodes as voters")
        client.add(node2.id, a2)
        check(len(client.cluster()) == 2, "adding the same node again is harmless")

        node1.open_db("shared.db")
        node1.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
        node1.exec("INSERT INTO kv VALUES ('replicated', 'yes')")
        node2.open_db("shared.db")
        check(node2.query("SELECT v FROM kv WHERE k = 'replicated'") == [{"v": "yes"}],
              "data written through node1 is read through node2")

        node1.handover()
        wait_for(lambda: client.leader() == a2, "leadership to move to node2 after handover")
        check(True, "handover moved leadership to node2")
        wait_for(lambda: node1.query("SELECT v FROM kv") == [{"v": "yes"}],
                 "node1 to reach the new leader")
        node1.exec("INSERT INTO kv VALUES ('after-handover', 'yes')")
        check(node2.query("SELECT count(*) AS n FROM kv")[0]["n"] == 2, "cluster writable after handover")
    node2.stop()
    node1.stop()

    step("cluster formed from a member list")
    a3, a4 = free_addr(), free_addr()
    members = [a3, a4]
    node3 = Node(a3, os.path.join(work, "list3"), cluster=members)
    node4 = Node(a4, os.path.join(work, "list4"), cluster=members)
    node3.start()
    node4.start()
    with Client(members) as client:
        def both_voters():
            roles = {(n.address, n.role_name) for n in client.cluster()}
            return roles == {(a3, "Voter"), (a4, "Voter")}
        wait_for(both_voters, "the second member to join as a voter")
        check(True, "second member joined by itself")
        check(client.leader() == a3, "first member leads")
        node4.open_db("list.db")
        node4.exec("CREATE TABLE t (x)")
        node4.exec("INSERT INTO t VALUES (42)")
        node3.open_db("list.db")
        check(node3.query("SELECT x FROM t") == [{"x": 42}], "member-list cluster replicates")
        client.remove(node4.id)
        check([n.address for n in client.cluster()] == [a3], "remove drops the member")
    node4.stop()
    node3.stop()

    step("explicit node ids (Client.add docstring)")
    a5, a6 = free_addr(), free_addr()
    node5 = Node(a5, os.path.join(work, "explicit1"), node_id=1)
    node6 = Node(a6, os.path.join(work, "explicit2"), node_id=2)
    node5.start()
    node6.start()
    try:
        node6.open_db("x.db")
    except dqlitepy.NodeError as exc:
        check("not part of a cluster" in str(exc), "open_db on a node nobody added fails fast")
    else:
        raise CheckFailed("open_db on an unjoined node_id=2 succeeded")
    with Client([a5]) as client:
        client.add(2, a6)
        check(sorted(n.id for n in client.cluster()) == [1, 2], "node 2 added to node 1's cluster")
    node6.open_db("x.db")
    node6.exec("CREATE TABLE t (x)")
    node5.open_db("x.db")
    check(node5.query("SELECT count(*) AS n FROM t") == [{"n": 0}], "explicit-id cluster works")
    node6.stop()
    node5.stop()


def main():
    timeout = float(os.environ.get("DQLITEPY_TEST_TIMEOUT", "600"))
    faulthandler.dump_traceback_later(timeout, exit=False)

    def on_timeout():
        print(f"FAIL: timed out after {timeout:.0f}s in step: {STEP}", flush=True)
        os._exit(3)

    import threading
    watchdog = threading.Timer(timeout + 1, on_timeout)
    watchdog.daemon = True
    watchdog.start()

    logging.basicConfig(level=logging.CRITICAL)
    if len(sys.argv) > 2:
        print(__doc__)
        return 2
    keep = len(sys.argv) == 2
    work = sys.argv[1] if keep else tempfile.mkdtemp(prefix="dqlitepy-roundtrip-")
    os.makedirs(work, exist_ok=True)
    print(f"workdir: {work}")
    t0 = time.monotonic()
    try:
        run(work)
    except CheckFailed as exc:
        print(f"FAIL: {exc}", flush=True)
        return 1
    except Exception:
        traceback.print_exc()
        print(f"FAIL: unexpected error in step: {STEP}", flush=True)
        return 2
    print(f"PASS ({time.monotonic() - t0:.1f}s)", flush=True)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: dqlitepy keeps no cleanup of its own
    # (finalizers disabled) and nothing is left to flush.
    os._exit(code)
