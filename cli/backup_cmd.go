package cli

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/thinraft/thinraft/metadata"
	ucli "github.com/urfave/cli/v3"
)

// vgcfgbackupCmd is LVM's vgcfgbackup: it saves the metadata. thinraft's
// metadata of every VG is one Raft-replicated model, so a backup is one
// consistent snapshot of all of it (the Raft snapshot format, gzip JSON
// lines: docs/metadata.md), taken as of a linearizable read; naming VGs
// checks they exist and says which were asked for.
func (a *app) vgcfgbackupCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "vgcfgbackup",
		Usage:     "back up the cluster's metadata (every VG, one consistent snapshot)",
		ArgsUsage: "[VG...]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "write the backup here (default thinraft-metadata-<time>.backup)"},
		},
		Action: a.vgcfgbackup,
	}
}

func (a *app) vgcfgbackup(ctx context.Context, cmd *ucli.Command) error {
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	vgs := cmd.Args().Slice()
	for _, vg := range vgs {
		if _, err := cl.VG(ctx, vg); err != nil {
			return apiErr("Volume group \""+vg+"\"", err)
		}
	}
	path := cmd.String("file")
	if path == "" {
		path = "thinraft-metadata-" + time.Now().UTC().Format("20060102-150405") + ".backup"
	}
	// Written aside and renamed, so a failed backup never leaves a
	// truncated file under the name a restore would pick up.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vgcfgbackup-*")
	if err != nil {
		return failf("%v", err)
	}
	defer os.Remove(tmp.Name())
	n, err := cl.Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failf("backup: %v", err)
	}
	hdr, err := readBackup(tmp.Name())
	if err != nil {
		return failf("backup written but unreadable: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return failf("%v", err)
	}
	if len(vgs) == 0 {
		a.printf("  Metadata of %d volume group(s) backed up to %s (%s, raft index %d).\n", hdr.VGs, path, human(uint64(n)), hdr.Index)
		return nil
	}
	for _, vg := range vgs {
		a.printf("  Volume group \"%s\" successfully backed up.\n", vg)
	}
	a.printf("  Backup file %s holds the whole cluster's metadata (%d volume group(s), raft index %d).\n", path, hdr.VGs, hdr.Index)
	return nil
}

// backupSummary is what a backup holds, as read back by the model's own
// snapshot reader (metadata.FSM.Restore), which checks every record, the
// counts and the end record: a backup that does not restore is refused here
// rather than found out at restore time.
type backupSummary struct {
	Index uint64
	VGs   int
}

func readBackup(path string) (backupSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return backupSummary{}, err
	}
	fsm := metadata.New(metadata.Options{})
	if err := fsm.Restore(f); err != nil {
		return backupSummary{}, err
	}
	var sum backupSummary
	fsm.Read(func(v metadata.View) { sum = backupSummary{Index: v.Index(), VGs: len(v.VGs())} })
	return sum, nil
}
