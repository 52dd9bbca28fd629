package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuClock reads CPU time (user+system) of the node processes and of this
// process, so a run can say how much CPU an operation costs: on a shared
// machine that is steadier than a rate, and it tells the cluster's share
// from the load generator's.
type cpuClock struct {
	pids []int // node processes; none when the nodes run in this process
}

// cpuSample is the CPU time used so far.
type cpuSample struct {
	nodes, self time.Duration
	// busy and total are the whole machine's non-idle and all jiffies
	// (/proc/stat): what everything on the machine used, other users'
	// work included.
	busy, total int64
	at          time.Time
}

func (c cpuClock) read() (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, fmt.Errorf("getrusage: %w", err)
	}
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		for i, v := range strings.Fields(line)[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
	}
	for _, pid := range c.pids {
		d, err := procCPU(pid)
		if err != nil {
			return s, err
		}
		s.nodes += d
	}
	return s, nil
}

// procCPU is utime+stime of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces, in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), nil // USER_HZ is 100 on Linux
}

// cpuCost is the CPU an interval of ops cost.
type cpuCost struct {
	// NodesMsPerOp is the node processes' CPU per op (with -procs=false
	// the nodes share this process and it is 0; SelfMsPerOp holds all).
	NodesMsPerOp float64 `json:"nodes_cpu_ms_per_op"`
	// SelfMsPerOp is the bench process's CPU per op: the clients (TLS,
	// JSON) and, with -procs=false, the nodes too.
	SelfMsPerOp float64 `json:"bench_cpu_ms_per_op"`
	// Cores is the CPU the cluster and the bench used per second of wall
	// time together (2 means both cores of a 2-core machine).
	Cores float64 `json:"cores_used"`
	// MachineBusy is the fraction of all the machine's CPU time that was
	// busy (anyone's work), from /proc/stat.
	MachineBusy float64 `json:"machine_busy_fraction"`
}

func costOf(a, b cpuSample, ops int) cpuCost {
	if ops <= 0 {
		return cpuCost{}
	}
	wall := b.at.Sub(a.at)
	c := cpuCost{NodesMsPerOp: ms(b.nodes-a.nodes) / float64(ops), SelfMsPerOp: ms(b.self-a.self) / float64(ops)}
	if b.total > a.total {
		c.MachineBusy = float64(b.busy-a.busy) / float64(b.total-a.total)
	}
	if wall > 0 {
		c.Cores = (b.nodes - a.nodes + b.self - a.self).Seconds() / wall.Seconds()
	}
	return c
}
