package main

import (
	"bytes"
	"context"
	"strconv"
	"sync"

	"github.com/canonical/go-dqlite/v2/client"
)

// clientH is one dqlitepy Client handle: a go-dqlite client connected to the
// leader of the cluster reachable through the given addresses.
type clientH struct {
	mu    sync.Mutex
	addrs []string
	cli   *client.Client
}

func newClient(addrs []string) (uint64, error) {
	maybeBootstrapFor(addrs)
	c := &clientH{addrs: addrs}
	c.mu.Lock()
	err := c.connectLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return register(nil, c), nil
}

// maybeBootstrapFor gives a cluster to the first pristine, default-id node of
// this process when every address the client was given is such a local node
// (dqlitepy's README: start a Node without node_id, then Client([its
// address])). With any address we know nothing about, nothing is touched.
func maybeBootstrapFor(addrs []string) {
	local := localNodes()
	var candidates []*node
	for _, a := range addrs {
		var found *node
		for _, n := range local {
			if n.address == a {
				found = n
				break
			}
		}
		if found == nil {
			return
		}
		candidates = append(candidates, found)
	}
	for _, n := range candidates {
		n.mu.Lock()
		running := n.running
		pristine := false
		if running {
			pristine, _ = n.pristineLocked()
		}
		n.mu.Unlock()
		if running && !pristine {
			return // a member exists: the cluster is there already
		}
	}
	for _, n := range candidates {
		n.mu.Lock()
		if n.running && n.autoID && len(n.cluster) == 0 && !selfBootstrapping(n.id) {
			err := n.ensureClusterLocked()
			n.mu.Unlock()
			if err != nil {
				debugf("client: bootstrap of node %d failed: %v", n.id, err)
			}
			return
		}
		n.mu.Unlock()
	}
}

func (c *clientH) connectLocked() error {
	if c.cli != nil {
		c.cli.Close()
		c.cli = nil
	}
	infos := make([]client.NodeInfo, len(c.addrs))
	for i, a := range c.addrs {
		infos[i].Address = a
	}
	store := client.NewInmemNodeStore()
	ctx, cancel := withTimeout()
	defer cancel()
	if err := store.Set(ctx, infos); err != nil {
		return errf(rcInternal, "node store: %v", err)
	}
	cli, err := client.FindLeader(ctx, store, client.WithLogFunc(logFunc))
	if err != nil {
		if ctx.Err() != nil {
			return errf(rcNoLeader, "no dqlite leader found among %v within %s: %v", c.addrs, timeout(), err)
		}
		return errf(rcNoLeader, "no dqlite leader found among %v: %v", c.addrs, err)
	}
	c.cli = cli
	return nil
}

// do runs op against the leader; on failure it reconnects to the (possibly
// new) leader and tries once more.
func (c *clientH) do(op func(ctx context.Context, cli *client.Client) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cli == nil {
		if err := c.connectLocked(); err != nil {
			return err
		}
	}
	ctx, cancel := withTimeout()
	err := op(ctx, c.cli)
	cancel()
	if err == nil {
		return nil
	}
	if _, ok := err.(*shimError); ok {
		return err
	}
	debugf("client: %v; reconnecting to the leader and retrying", err)
	if cerr := c.connectLocked(); cerr != nil {
		return errf(rcInternal, "%v (reconnect: %v)", err, cerr)
	}
	ctx, cancel = withTimeout()
	defer cancel()
	if err := op(ctx, c.cli); err != nil {
		if _, ok := err.(*shimError); ok {
			return err
		}
		return errf(rcInternal, "%v", err)
	}
	return nil
}

func (c *clientH) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cli != nil {
		c.cli.Close()
		c.cli = nil
	}
}

func (c *clientH) add(id uint64, address string) error {
	return c.do(func(ctx context.Context, cli *client.Client) error {
		return ensureVoter(ctx, cli, id, address)
	})
}

func (c *clientH) remove(id uint64) error {
	return c.do(func(ctx context.Context, cli *client.Client) error {
		return cli.Remove(ctx, id)
	})
}

func (c *clientH) leader() (string, error) {
	var addr string
	err := c.do(func(ctx context.Context, cli *client.Client) error {
		info, err := cli.Leader(ctx)
		if err != nil {
			return err
		}
		if info == nil || info.ID == 0 || info.Address == "" {
			return errf(rcNoLeader, "the cluster has no leader at the moment")
		}
		addr = info.Address
		return nil
	})
	return addr, err
}

// cluster renders the configuration as [{"id":..,"address":..,"role":..}],
// role 0 voter, 1 stand-by, 2 spare (dqlitepy.NodeInfo).
func (c *clientH) cluster() (string, error) {
	var servers []client.NodeInfo
	err := c.do(func(ctx context.Context, cli *client.Client) error {
		var err error
		servers, err = cli.Cluster(ctx)
		return err
	})
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, s := range servers {
		if i > 0 {
			buf.WriteByte(',')
		}
		addr, err := marshalString(s.Address)
		if err != nil {
			return "", err
		}
		buf.WriteString(`{"id":` + strconv.FormatUint(s.ID, 10) + `,"address":`)
		buf.Write(addr)
		buf.WriteString(`,"role":` + strconv.Itoa(int(s.Role)) + `}`)
	}
	buf.WriteByte(']')
	return buf.String(), nil
}
