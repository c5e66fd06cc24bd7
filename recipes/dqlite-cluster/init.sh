# `recipe boot`: the three nodes form a cluster, node 1 writes rows, the
# other two read them, and every VM powers off.
exec python3.13 /usr/local/bin/dqlite-cluster form
