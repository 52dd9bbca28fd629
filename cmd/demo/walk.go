package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The walk's names and sizes. thin1 gets pattern A (32 MiB at 0), is
// snapshotted, then gets pattern B (16 MiB at 8 MiB) over part of A: so
// thin1 and snap1 share A's 16 unchanged MiB and each has 16 MiB of its
// own (B for thin1, A's overwritten part for snap1).
const (
	vg        = "vg0"
	thinSize  = 256 * mib
	writeA    = 32 * mib
	offsetB   = 8 * mib
	writeB    = 16 * mib
	extendBy  = 256 * mib
	pool0Size = 1024 * mib
	pool1Size = 512 * mib
)

// patA and patB are the two writes.
func patA() pattern { return pattern{name: "A", base: 0, size: writeA} }
func patB() pattern { return pattern{name: "B", base: offsetB, size: writeB} }

// walk is the demo proper: every step runs the real CLI and checks what
// it did. The first failure ends it; run's cleanup follows on every path.
func (d *demo) walk(ctx context.Context) error {
	steps := []struct {
		title string
		fn    func(context.Context) error
	}{
		{"Build thinraft", d.build},
		{"Write a 3-node loopback cluster (certificates, token, node configs, client.json)", d.initCluster},
		{"Start the three nodes (userspace dm-thin engine, no kernel device-mapper needed)", d.startNodes},
		{"Create a volume group and two thin pools on different nodes", d.createPools},
		{"Create a thin volume", d.createThin},
		{"Write 32 MiB through NBD", d.writeFirst},
		{"Snapshot it", d.snapshot},
		{"Write 16 MiB more over part of it", d.writeSecond},
		{"Exact usage: what the snapshot and its origin share", d.usage},
		{"Extend the volume", d.extend},
		{"Revert the volume to the snapshot", d.merge},
		{"Kill the leader with SIGKILL: the cluster carries on", d.killLeader},
		{"Back up the metadata", d.backup},
		{"Remove the volumes, the pools and the VG", d.remove},
		{"Stop the nodes with SIGTERM", d.stopNodes},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.step(s.title)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("step %d (%s): %w", d.steps, s.title, err)
		}
	}
	return nil
}

func (d *demo) startNodes(ctx context.Context) error {
	for i := 1; i <= nodes; i++ {
		if err := d.startAgent(fmt.Sprintf("n%d", i)); err != nil {
			return err
		}
	}
	lead, err := d.leader(ctx)
	if err != nil {
		return err
	}
	r, err := d.sh.run(ctx, "cluster", "status")
	if err != nil {
		return err
	}
	shown, err := leaderOf(r.stdout)
	if err != nil {
		return err
	}
	if shown != lead {
		return mismatch("cluster status leader", lead, shown)
	}
	d.ok("%d nodes up and registered, leader %s", nodes, lead)
	return nil
}

func (d *demo) createPools(ctx context.Context) error {
	if _, err := d.sh.run(ctx, "vgcreate", vg); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "lvcreate", "--type", "thin-pool", "-L", "1G", "-n", "pool0", vg, "--node", "n1"); err != nil {
		return err
	}
	d.note("no --node: the pool goes to the up node with the fewest pools")
	if _, err := d.sh.run(ctx, "lvcreate", "--type", "thin-pool", "-L", "512M", "-n", "pool1", vg); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "lvs", "-o", "+node"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	if err := checkLV(lvs, "pool0", lvWant{attrPrefix: "twi-a", size: pool0Size, node: "n1"}); err != nil {
		return err
	}
	if err := checkLV(lvs, "pool1", lvWant{attrPrefix: "twi-a", size: pool1Size}); err != nil {
		return err
	}
	if n := lvs["pool1"]["node"]; n == "n1" || n == "" {
		return mismatch("vg0/pool1 node", "a node other than n1 (n1 already holds pool0)", fmt.Sprintf("%q", n))
	}
	d.ok("pool0 (1 GiB) active on n1, pool1 (512 MiB) active on %s", lvs["pool1"]["node"])
	return nil
}

func (d *demo) createThin(ctx context.Context) error {
	if _, err := d.sh.run(ctx, "lvcreate", "-V", "256M", "-T", vg+"/pool0", "-n", "thin1"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	if err := checkLV(lvs, "thin1", lvWant{attrPrefix: "Vwi-a-tz", size: thinSize, pool: "pool0", node: "n1"}); err != nil {
		return err
	}
	d.ok("thin1: 256 MiB thin volume in pool0 on n1, active (attr %s)", lvs["thin1"]["lv_attr"])
	return nil
}

// put writes a pattern file into thin1 through NBD.
func (d *demo) put(ctx context.Context, p pattern) error {
	file := filepath.Join(d.tmp, p.name+".bin")
	if err := p.writeFile(file); err != nil {
		return err
	}
	args := []string{"nbd", "put", vg + "/thin1", file}
	if p.base != 0 {
		args = append(args, "--offset", fmt.Sprintf("%dm", p.base/mib))
	}
	_, err := d.sh.run(ctx, args...)
	return err
}

// readBack reads thin1 through NBD and compares it with im.
func (d *demo) readBack(ctx context.Context, im image, what string) error {
	file := filepath.Join(d.tmp, "thin1.read")
	if _, err := d.sh.run(ctx, "nbd", "get", vg+"/thin1", file); err != nil {
		return err
	}
	if err := im.compareFile(file); err != nil {
		return err
	}
	d.ok("read back all %d MiB of thin1: %s", im.size/mib, what)
	return nil
}

func (d *demo) writeFirst(ctx context.Context) error {
	d.note("%s: 32 MiB, every 512-byte sector stamped \"A @offset\"", filepath.Join(d.tmp, "A.bin"))
	if err := d.put(ctx, patA()); err != nil {
		return err
	}
	d.note("usage arrives with the pool agent's reports: waiting for one measured after the write")
	if err := d.freshUsage(ctx, "pool0"); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "lvs", "-o", "+exclusive_bytes,shared_bytes", vg+"/thin1"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	// Data%: 32 of thin1's 256 MiB; 32 of pool0's 1024 MiB.
	if err := checkLV(lvs, "thin1", lvWant{excl: ptr(writeA), shrd: ptr(0), dataPct: "12.50"}); err != nil {
		return err
	}
	if err := checkLV(lvs, "pool0", lvWant{dataPct: "3.12"}); err != nil {
		return err
	}
	d.ok("thin1 maps exactly 32 MiB, all its own (Data%% 12.50; pool0 3.12)")
	return nil
}

func (d *demo) snapshot(ctx context.Context) error {
	if _, err := d.sh.run(ctx, "lvcreate", "-s", vg+"/thin1", "-n", "snap1"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	// LVM's thin snapshots skip activation by default: attr 10 is k.
	if err := checkLV(lvs, "snap1", lvWant{attr: "Vwi---tz-k", size: thinSize, pool: "pool0", origin: "thin1", node: "n1"}); err != nil {
		return err
	}
	d.ok("snap1: thin snapshot of thin1 in pool0, activation skipped (attr %s)", lvs["snap1"]["lv_attr"])
	return nil
}

func (d *demo) writeSecond(ctx context.Context) error {
	d.note("%s: 16 MiB stamped \"B @offset\", written at 8 MiB over A", filepath.Join(d.tmp, "B.bin"))
	if err := d.put(ctx, patB()); err != nil {
		return err
	}
	return d.readBack(ctx, image{size: thinSize, layers: []pattern{patA(), patB()}}, "A, with B at 8..24 MiB, zeros after 32 MiB")
}

func (d *demo) usage(ctx context.Context) error {
	d.note("waiting for a usage report measured after the write")
	if err := d.freshUsage(ctx, "pool0"); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "lvs", "-o", "+exclusive_bytes,shared_bytes", vg); err != nil {
		return err
	}
	r, err := d.sh.run(ctx, "lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
		"-o", "lv_name,origin,data_percent,exclusive_bytes,shared_bytes", vg+"/thin1", vg+"/snap1")
	if err != nil {
		return err
	}
	rows, err := parseReport(r.stdout, "lv")
	if err != nil {
		return err
	}
	lvs := byName(rows, "lv_name")
	unchanged := uint64(writeA - writeB)
	// Each maps 32 of its 256 MiB (Data% 12.50): 16 shared, 16 its own.
	if err := checkLV(lvs, "thin1", lvWant{excl: ptr(writeB), shrd: ptr(unchanged), dataPct: "12.50"}); err != nil {
		return err
	}
	if err := checkLV(lvs, "snap1", lvWant{origin: "thin1", excl: ptr(writeB), shrd: ptr(unchanged), dataPct: "12.50"}); err != nil {
		return err
	}
	d.ok("lvs --reportformat json has LVM's shape {\"report\":[{\"lv\":[...]}]}")
	d.ok("thin1 and snap1 share exactly A's 16 unchanged MiB; thin1's own 16 MiB are B, snap1's own 16 MiB the A that B replaced")
	// The pool holds 16 + 16 + 16 MiB of 1024: 4.6875%.
	all, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	if err := checkLV(all, "pool0", lvWant{dataPct: "4.69"}); err != nil {
		return err
	}
	d.ok("pool0 holds 48 MiB: Data%% 4.69")
	return nil
}

func (d *demo) extend(ctx context.Context) error {
	if _, err := d.sh.run(ctx, "lvextend", "-L", "+256M", vg+"/thin1"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	if err := checkLV(lvs, "thin1", lvWant{size: thinSize + extendBy}); err != nil {
		return err
	}
	d.ok("thin1 is 512 MiB")
	return nil
}

func (d *demo) merge(ctx context.Context) error {
	if _, err := d.sh.run(ctx, "lvconvert", "--merge", vg+"/snap1"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	if _, ok := lvs["snap1"]; ok {
		return mismatch("lvs after the merge", "no snap1 (a merged snapshot is gone, as in LVM)", "snap1 still listed")
	}
	// The origin takes the snapshot's content and size, as LVM's merge.
	if err := checkLV(lvs, "thin1", lvWant{attrPrefix: "Vwi-a-tz", size: thinSize}); err != nil {
		return err
	}
	d.ok("snap1 merged into thin1: thin1 is the snapshot again (256 MiB, active)")
	if err := d.readBack(ctx, image{size: thinSize, layers: []pattern{patA()}}, "exactly A again, zeros after 32 MiB"); err != nil {
		return err
	}
	if err := d.freshUsage(ctx, "pool0"); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "lvs", "-o", "+exclusive_bytes,shared_bytes", vg); err != nil {
		return err
	}
	if lvs, err = d.lvs(ctx); err != nil {
		return err
	}
	if err := checkLV(lvs, "thin1", lvWant{excl: ptr(writeA), shrd: ptr(0)}); err != nil {
		return err
	}
	if err := checkLV(lvs, "pool0", lvWant{dataPct: "3.12"}); err != nil {
		return err
	}
	d.ok("thin1 maps A's 32 MiB again, all its own, and pool0 is back to 32 MiB (3.12%%): B's blocks were freed with the old thin1")
	return nil
}

func (d *demo) killLeader(ctx context.Context) error {
	r, err := d.sh.run(ctx, "cluster", "status")
	if err != nil {
		return err
	}
	lead, err := leaderOf(r.stdout)
	if err != nil {
		return err
	}
	pid := d.ag.pid(lead)
	if pid == 0 {
		return fmt.Errorf("cluster status names leader %q, which the demo did not start", lead)
	}
	fmt.Fprintf(d.out, "$ kill -9 %d    # %s, the leader\n", pid, lead)
	if err := d.ag.kill(lead); err != nil {
		return err
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		return mismatch("process "+strconv.Itoa(pid), "gone after kill -9", err)
	}
	next, err := d.leader(ctx, lead)
	if err != nil {
		return err
	}
	if r, err = d.sh.run(ctx, "cluster", "status"); err != nil {
		return err
	}
	if shown, err := leaderOf(r.stdout); err != nil || shown == lead {
		return mismatch("cluster status leader after the kill", "a node other than "+lead, shown)
	}
	d.ok("%s leads now", next)
	if _, err := d.sh.run(ctx, "lvs", vg); err != nil {
		return err
	}
	// A new volume in a pool whose node is alive: pool0 lives on n1,
	// pool1 elsewhere; at most one of them is on the dead node.
	pool := "pool0"
	if lead == "n1" {
		pool = "pool1"
	}
	if _, err := d.sh.run(ctx, "lvcreate", "-V", "64M", "-T", vg+"/"+pool, "-n", "thin2"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	if err := checkLV(lvs, "thin2", lvWant{attrPrefix: "Vwi-a-tz", size: 64 * mib, pool: pool}); err != nil {
		return err
	}
	d.ok("lvs answered and thin2 was created in %s with %s dead", pool, lead)

	d.note("the leader marks a node down after its heartbeats fail for a while")
	if err := d.waitNode(ctx, lead, "down"); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "pvs"); err != nil {
		return err
	}
	d.ok("pvs shows %s missing", lead)

	if err := d.startAgent(lead); err != nil {
		return err
	}
	if err := d.waitNode(ctx, lead, "up"); err != nil {
		return err
	}
	if _, err := d.leader(ctx); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "pvs"); err != nil {
		return err
	}
	pvs, err := d.pvs(ctx)
	if err != nil {
		return err
	}
	if got := pvs[lead]["pv_attr"]; got != "a--" {
		return mismatch(lead+" pv_attr after its restart", "a--", got)
	}
	d.ok("%s is back: up, pv_attr a--", lead)
	return nil
}

// waitNode waits until pvs shows node id in state (up, down).
func (d *demo) waitNode(ctx context.Context, id, state string) error {
	return waitFor(ctx, 30*time.Second, fmt.Sprintf("pvs to show %s %s", id, state), func(ctx context.Context) error {
		pvs, err := d.pvs(ctx)
		if err != nil {
			return &checkError{what: "pvs", want: "an answer", got: err.Error()}
		}
		if got := pvs[id]["node_state"]; got != state {
			return mismatch(id+" node_state", state, got)
		}
		return nil
	})
}

func (d *demo) backup(ctx context.Context) error {
	file := filepath.Join(d.tmp, vg+".backup")
	if _, err := d.sh.run(ctx, "vgcfgbackup", "-f", file, vg); err != nil {
		return err
	}
	s, err := readBackup(file)
	if err != nil {
		return fmt.Errorf("backup %s: %w", file, err)
	}
	// thin1 and thin2 remain; snap1 was merged.
	if err := s.check(nodes, 1, 2, 2); err != nil {
		return err
	}
	d.ok("%s: gzip JSON lines, header {format %q, version %d, index %d}, 3 nodes, 1 VG, 2 pools, 2 volumes, end record counts %d",
		filepath.Base(file), s.header.Format, s.header.Version, s.header.Index, s.endRecords)
	return nil
}

func (d *demo) remove(ctx context.Context) error {
	if _, err := d.sh.run(ctx, "lvremove", "-y", vg+"/thin1", vg+"/thin2"); err != nil {
		return err
	}
	if _, err := d.sh.run(ctx, "lvremove", "-y", vg+"/pool0", vg+"/pool1"); err != nil {
		return err
	}
	lvs, err := d.lvs(ctx)
	if err != nil {
		return err
	}
	if len(lvs) != 0 {
		return mismatch("lvs after lvremove", "no LVs", sortedKeys(lvs))
	}
	d.ok("no LVs left in %s", vg)
	if _, err := d.sh.run(ctx, "vgremove", "-y", vg); err != nil {
		return err
	}
	r, err := d.sh.quiet(ctx, "vgs", "--reportformat", "json")
	if err != nil {
		return err
	}
	rows, err := parseReport(r.stdout, "vg")
	if err != nil {
		return err
	}
	if len(rows) != 0 {
		return mismatch("vgs after vgremove", "no VGs", len(rows))
	}
	d.ok("no VGs left")
	return nil
}

func (d *demo) stopNodes(context.Context) error {
	var pids []string
	for _, id := range d.ag.ids() {
		pids = append(pids, strconv.Itoa(d.ag.pid(id)))
	}
	fmt.Fprintf(d.out, "$ kill -TERM %s    # every node\n", strings.Join(pids, " "))
	if err := d.ag.stopAll(stopGrace); err != nil {
		return err
	}
	d.ok("every agent exited with status 0")
	if err := d.ag.leftovers(); err != nil {
		return err
	}
	d.ok("no process of the demo's is left")
	return nil
}
