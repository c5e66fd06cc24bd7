# Starts a dqlite node on loopback, writes and reads a row, and shows that
# the node holds a kernel AIO context (io_setup) while it runs.
ip link set lo up
exec python3.13 - <<'PY'
import os
import dqlitepy

assert "LD_PRELOAD" not in os.environ and not os.path.exists("/etc/ld.so.preload"), "no AIO preload"
node = dqlitepy.Node("127.0.0.1:9001", "/tmp/dqlite", node_id=1)
node.start()
node.open_db("demo.db")
node.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
node.exec("INSERT INTO t (v) VALUES ('written in the VM')")
print("dqlite rows:", node.query("SELECT id, v FROM t"))
aio = int(open("/proc/sys/fs/aio-nr").read())
print("kernel AIO contexts while the node runs:", aio)
assert aio > 0, "the node uses the kernel's io_setup"
node.stop()
print("dqlite node stopped")
PY
