package raftnode

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// measureApplies runs writers goroutines applying 64-byte commands on the
// leader of a fresh 3-node loopback cluster for d, and returns applies/s
// and the p50/p99 latency.
func measureApplies(t testing.TB, tweak func(*Config), writers int, d time.Duration) (rate float64, p50, p99 time.Duration) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.LogLevel = "error"
		if tweak != nil {
			tweak(cfg)
		}
	})
	c.bootstrap(3)
	l := c.leader()
	c.apply("warm")
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	cmd := make([]byte, 64)
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(stop) {
				s := time.Now()
				if _, err := l.Apply(context.Background(), cmd); err != nil {
					failed.Store(err)
					return
				}
				mine = append(mine, time.Since(s))
				n.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	start := time.Now()
	wg.Wait()
	el := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("apply: %v", err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		t.Fatal("no applies")
	}
	return float64(n.Load()) / el.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}

// BenchmarkApply reports applies/s for writer counts and batch limits:
//
//	go test ./cluster/raftnode -run '^$' -bench Apply -benchtime 1x
func BenchmarkApply(b *testing.B) {
	for _, mae := range []int{64, 512} {
		for _, w := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("maxappend=%d/writers=%d", mae, w), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					rate, p50, p99 := measureApplies(b, func(c *Config) { c.MaxAppendEntries = mae }, w, 2*time.Second)
					b.ReportMetric(rate, "applies/s")
					b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
					b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
				}
			})
		}
	}
}
