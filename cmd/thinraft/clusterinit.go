package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/thinraft/thinraft/cluster/api"
	"github.com/thinraft/thinraft/cluster/node"
	"github.com/thinraft/thinraft/cluster/pki"
)

// certValidity is the lifetime of the certificates cluster init issues.
const certValidity = 365 * 24 * time.Hour

// portsPerNode: Raft, API and NBD.
const portsPerNode = 3

// runClusterInit writes everything a loopback cluster of N nodes needs:
//
//	DIR/ca.crt, ca.key            the cluster CA
//	DIR/client.crt, client.key    a client certificate ("admin")
//	DIR/token                     a bearer token (0600; configs hold its hash)
//	DIR/nI/node.crt, node.key     node I's certificate
//	DIR/nI.json                   node I's configuration (data in DIR/nI/data)
//
// Node I listens for Raft on base+3(I-1), for the API on base+3(I-1)+1 and
// for NBD (its active volumes, docs/nbd.md) on base+3(I-1)+2.
func runClusterInit(_ context.Context, args []string) error {
	const usage = "usage: thinraft cluster init --nodes N --dir DIR [--base-port P] [--host H] [--engine emu|kernel]"
	fs := newFlags("cluster init")
	n := fs.Int("nodes", 3, "number of nodes (1..9 voters bootstrap together)")
	dir := fs.String("dir", "", "output directory (must not hold a cluster already)")
	base := fs.Int("base-port", 7400, "first port")
	host := fs.String("host", "127.0.0.1", "address every node listens on")
	engine := fs.String("engine", node.EngineEmu, "dm engine of the nodes")
	if err := parse(fs, usage, args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --dir is required; %s", errUsage, usage)
	}
	if *n < 1 || *n > 9 {
		return fmt.Errorf("%w: --nodes %d: want 1..9", errUsage, *n)
	}
	if *base < 1 || *base+portsPerNode**n > 65535 {
		return fmt.Errorf("%w: --base-port %d out of range", errUsage, *base)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(abs, "ca.crt")); err == nil {
		return fmt.Errorf("cluster init: %s already holds a cluster (ca.crt); choose an empty directory", abs)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("cluster init: %w", err)
	}

	ca, err := pki.NewCA(filepath.Base(abs), 0)
	if err != nil {
		return err
	}
	if err := pki.WriteFiles(abs, "ca", ca.Cert, ca.Key); err != nil {
		return err
	}
	cl, err := ca.IssueClient("admin", certValidity)
	if err != nil {
		return err
	}
	if err := cl.WriteFiles(abs, "client"); err != nil {
		return err
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return fmt.Errorf("cluster init: token: %w", err)
	}
	token := hex.EncodeToString(tok[:])
	if err := os.WriteFile(filepath.Join(abs, "token"), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("cluster init: %w", err)
	}

	var peers []node.Peer
	nbdAddrs := map[string]string{}
	for i := 1; i <= *n; i++ {
		p := *base + portsPerNode*(i-1)
		id := "n" + strconv.Itoa(i)
		peers = append(peers, node.Peer{ID: id,
			RaftAddr: net.JoinHostPort(*host, strconv.Itoa(p)), APIAddr: net.JoinHostPort(*host, strconv.Itoa(p+1))})
		nbdAddrs[id] = net.JoinHostPort(*host, strconv.Itoa(p+2))
	}
	for _, p := range peers {
		nd := filepath.Join(abs, p.ID)
		var hosts []string
		if *host != "127.0.0.1" {
			hosts = []string{*host}
		}
		b, err := ca.IssueNode(p.ID, hosts, certValidity)
		if err != nil {
			return err
		}
		if err := b.WriteFiles(nd, "node"); err != nil {
			return err
		}
		cfg := &node.Config{
			ID: p.ID, DataDir: filepath.Join(nd, "data"),
			RaftBind: p.RaftAddr, APIBind: p.APIAddr, NBDBind: nbdAddrs[p.ID],
			CertFile: filepath.Join(nd, "node.crt"), KeyFile: filepath.Join(nd, "node.key"), CAFile: filepath.Join(abs, "ca.crt"),
			TokenHashes: []string{api.HashToken(token)},
			Engine:      *engine,
			Bootstrap:   peers,
			Timing:      "loopback",
		}
		if err := cfg.Check(); err != nil {
			return fmt.Errorf("cluster init: %s: %w", p.ID, err)
		}
		if err := node.WriteConfig(filepath.Join(abs, p.ID+".json"), cfg); err != nil {
			return fmt.Errorf("cluster init: %w", err)
		}
	}
	if err := writeClientConfig(abs, peers); err != nil {
		return err
	}
	fmt.Printf("cluster of %d nodes in %s: start each with `thinraft agent --config %s/nI.json`; API endpoints", *n, abs, abs)
	for _, p := range peers {
		fmt.Printf(" %s", p.APIAddr)
	}
	fmt.Println()
	return nil
}
