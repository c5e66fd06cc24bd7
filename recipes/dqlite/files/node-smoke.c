/* Smoke test for a cross-built libdqlite: link against it, create a node in
 * a temporary data directory, start it (which probes Linux AIO: under
 * qemu-user that needs the AIO emulation preload), stop it and destroy it. */
#include <dqlite.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	const char *addr = argc > 2 ? argv[2] : "127.0.0.1:9101";
	dqlite_node *node = NULL;
	int rv;

	printf("dqlite %d\n", dqlite_version_number());
	if (dqlite_version_number() < 11700) {
		fprintf(stderr, "dqlite is older than 1.17\n");
		return 1;
	}
	rv = dqlite_node_create(1, addr, dir, &node);
	if (rv != 0) {
		fprintf(stderr, "create: %s\n", node ? dqlite_node_errmsg(node) : "out of memory");
		return 1;
	}
	rv = dqlite_node_set_bind_address(node, addr);
	if (rv == 0) {
		rv = dqlite_node_start(node);
	}
	if (rv != 0) {
		fprintf(stderr, "start: %s\n", dqlite_node_errmsg(node));
		dqlite_node_destroy(node);
		return 1;
	}
	rv = dqlite_node_stop(node);
	dqlite_node_destroy(node);
	if (rv != 0) {
		fprintf(stderr, "stop failed: %d\n", rv);
		return 1;
	}
	printf("node started and stopped\n");
	return 0;
}
