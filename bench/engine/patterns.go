package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"time"
)

// params are the sizes of one bench run. Both sides get the same.
type params struct {
	DeviceBytes  int64  `json:"device_bytes"`
	BlockBytes   int64  `json:"pool_block_bytes"`
	RandOps      int    `json:"rand_ops"`
	RandIOBytes  int64  `json:"rand_io_bytes"`
	SeqIOBytes   int64  `json:"seq_io_bytes"`
	Reps         int    `json:"reps"`
	Seed         int64  `json:"seed"`
	ZeroNew      bool   `json:"pool_zeroes_new_blocks"`
	Provision    string `json:"backing_files"`
	Method       string `json:"method"`
	FlushInTimed bool   `json:"write_flush_in_timed_region"`
}

// content is what the patterns write: one random image of the device per
// phase, so each side's reads can be verified and the two phases differ.
type content struct {
	fresh, cow []byte
	randOffs   []int64
}

func newContent(p params) *content {
	rng := rand.New(rand.NewSource(p.Seed))
	c := &content{fresh: make([]byte, p.DeviceBytes), cow: make([]byte, p.DeviceBytes)}
	rng.Read(c.fresh)
	rng.Read(c.cow)
	slots := p.DeviceBytes / p.RandIOBytes
	c.randOffs = make([]int64, p.RandOps)
	for i := range c.randOffs {
		c.randOffs[i] = rng.Int63n(slots) * p.RandIOBytes
	}
	return c
}

// timing is one timed pattern run.
type timing struct {
	Bytes   int64
	Ops     int
	Elapsed time.Duration
}

func randWrite(d dev, img []byte, offs []int64, io int64) (timing, error) {
	start := time.Now()
	for _, off := range offs {
		if _, err := d.WriteAt(img[off:off+io], off); err != nil {
			return timing{}, fmt.Errorf("write at %d: %w", off, err)
		}
	}
	if err := d.Flush(); err != nil {
		return timing{}, fmt.Errorf("flush: %w", err)
	}
	return timing{Bytes: int64(len(offs)) * io, Ops: len(offs), Elapsed: time.Since(start)}, nil
}

func seqWrite(d dev, img []byte, io int64) (timing, error) {
	start := time.Now()
	n := 0
	for off := int64(0); off < int64(len(img)); off += io {
		if _, err := d.WriteAt(img[off:off+io], off); err != nil {
			return timing{}, fmt.Errorf("write at %d: %w", off, err)
		}
		n++
	}
	if err := d.Flush(); err != nil {
		return timing{}, fmt.Errorf("flush: %w", err)
	}
	return timing{Bytes: int64(len(img)), Ops: n, Elapsed: time.Since(start)}, nil
}

// seqRead reads the whole device and, outside the timed region, checks
// it against img.
func seqRead(d dev, img []byte, io int64) (timing, error) {
	buf := make([]byte, io)
	start := time.Now()
	var bad int64 = -1
	n := 0
	var elapsed time.Duration
	for off := int64(0); off < int64(len(img)); off += io {
		if _, err := d.ReadAt(buf, off); err != nil {
			return timing{}, fmt.Errorf("read at %d: %w", off, err)
		}
		n++
		// One comparison per MiB costs the same on both sides; it keeps
		// the bench honest about what it read.
		if bad < 0 && !bytes.Equal(buf, img[off:off+io]) {
			bad = off
		}
	}
	elapsed = time.Since(start)
	if bad >= 0 {
		return timing{}, fmt.Errorf("read at %d returned other data than was written", bad)
	}
	return timing{Bytes: int64(len(img)), Ops: n, Elapsed: elapsed}, nil
}

func randRead(d dev, img []byte, offs []int64, io int64) (timing, error) {
	buf := make([]byte, io)
	var bad int64 = -1
	start := time.Now()
	for _, off := range offs {
		if _, err := d.ReadAt(buf, off); err != nil {
			return timing{}, fmt.Errorf("read at %d: %w", off, err)
		}
		if bad < 0 && !bytes.Equal(buf, img[off:off+io]) {
			bad = off
		}
	}
	elapsed := time.Since(start)
	if bad >= 0 {
		return timing{}, fmt.Errorf("read at %d returned other data than was written", bad)
	}
	return timing{Bytes: int64(len(offs)) * io, Ops: len(offs), Elapsed: elapsed}, nil
}

// image returns img with the random writes of offs applied from src, the
// device content after randWrite(src) over img.
func image(img, src []byte, offs []int64, io int64) []byte {
	out := append([]byte(nil), img...)
	for _, off := range offs {
		copy(out[off:off+io], src[off:off+io])
	}
	return out
}
