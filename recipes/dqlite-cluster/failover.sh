# `recipe test`: as the boot, then node 1 (the leader) loses power
# (RECIPE-KILL), and nodes 2 and 3 see a new leader elected among them, the
# rows intact, and the cluster writable.
exec python3.13 /usr/local/bin/dqlite-cluster failover
