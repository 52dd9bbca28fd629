package kernel

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinraft/thinraft/dm"
)

func TestUeventDevName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "uevent")
	if err := os.WriteFile(p, []byte("MAJOR=7\nMINOR=3\nDEVNAME=loop3\nDEVTYPE=disk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, ok := ueventDevName(p); !ok || n != "loop3" {
		t.Fatalf("got %q %v, want loop3", n, ok)
	}
	if err := os.WriteFile(p, []byte("MAJOR=7\nDEVNAME=../etc/passwd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, ok := ueventDevName(p); ok {
		t.Fatalf("a DEVNAME leaving /dev was accepted: %q", n)
	}
	if _, ok := ueventDevName(filepath.Join(dir, "missing")); ok {
		t.Fatal("missing uevent accepted")
	}
}

func TestBlockNodeRefs(t *testing.T) {
	n, cleanup, err := blockNode("/dev/loop9")
	cleanup()
	if err != nil || n != "/dev/loop9" {
		t.Fatalf("path ref: %q %v", n, err)
	}
	if _, _, err := blockNode("7"); err == nil {
		t.Fatal("malformed MAJOR:MINOR accepted")
	}
}

func TestSuperblockHeadFillsDataBlocks(t *testing.T) {
	in := `<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="0">
  <device dev_id="0" mapped_blocks="1" transaction="0" creation_time="0" snap_time="1">
    <single_mapping origin_block="0" data_block="5" time="0"/>
  </device>
</superblock>
`
	r := bufio.NewReader(strings.NewReader(in))
	head, err := superblockHead(r, 1024)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dm.ReadThinXML(io.MultiReader(bytes.NewReader(head), r))
	if err != nil {
		t.Fatal(err)
	}
	if d.NrDataBlocks != 1024 || len(d.Devices) != 1 || d.Devices[0].Mappings[0].DataBlock != 5 {
		t.Fatalf("dump %+v", d)
	}
	if _, err := superblockHead(bufio.NewReader(strings.NewReader("<nothing/>")), 1); err == nil {
		t.Fatal("output without a superblock accepted")
	}
}
