package cli

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	hdr, err := backupHeader(tmp.Name())
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

// backupSummary is what the backup's header line says.
type backupSummary struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	VGs     int    `json:"vgs"`
	Volumes int    `json:"volumes"`
}

// backupHeader reads the header record of a backup file: a check that the
// bytes are the format and a summary to print.
func backupHeader(path string) (backupSummary, error) {
	var h struct {
		Header *backupSummary `json:"header"`
	}
	f, err := os.Open(path)
	if err != nil {
		return backupSummary{}, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return backupSummary{}, err
	}
	line, err := bufio.NewReader(zr).ReadBytes('\n')
	if err != nil {
		return backupSummary{}, err
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Header == nil || h.Header.Format != "thinraft-metadata" {
		return backupSummary{}, fmt.Errorf("no thinraft-metadata header")
	}
	return *h.Header, nil
}
