package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ClockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. The
// kernel fixes it at 100 for every user-space ABI on Linux (proc(5):
// "measured in clock ticks (divide by sysconf(_SC_CLK_TCK))").
const ClockTick = 10 * time.Millisecond

// Stat is one sample of one process.
type Stat struct {
	PID  int
	PPID int
	// CPU is user plus system time consumed so far (10 ms resolution).
	CPU time.Duration
	// RSS is the resident set size (VmRSS), in bytes.
	RSS int64
}

// ErrGone reports a process that no longer exists.
var ErrGone = errors.New("procstat: process gone")

// Read samples pid.
func Read(pid int) (Stat, error) {
	st := Stat{PID: pid}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return st, ErrGone
	}
	if err != nil {
		return st, err
	}
	if err := parseStat(b, &st); err != nil {
		return st, fmt.Errorf("procstat: /proc/%d/stat: %w", pid, err)
	}
	b, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if errors.Is(err, os.ErrNotExist) {
		return st, ErrGone
	}
	if err != nil {
		return st, err
	}
	st.RSS, err = parseRSS(b)
	if err != nil {
		return st, fmt.Errorf("procstat: /proc/%d/status: %w", pid, err)
	}
	return st, nil
}

// parseStat reads ppid (field 4), utime (14) and stime (15). The command
// name (field 2) is parenthesised and may itself hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte, st *Stat) error {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return errors.New("no command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state).
	if len(f) < 13 {
		return errors.New("too few fields")
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	ut, err2 := strconv.ParseUint(string(f[11]), 10, 63)
	stime, err3 := strconv.ParseUint(string(f[12]), 10, 63)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	st.PPID = ppid
	st.CPU = time.Duration(ut+stime) * ClockTick
	return nil
}

// parseRSS reads "VmRSS:   1234 kB". Kernel threads and zombies have no
// VmRSS line: 0.
func parseRSS(b []byte) (int64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		v, ok = bytes.CutSuffix(v, []byte(" kB"))
		if !ok {
			return 0, errors.New("VmRSS not in kB")
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return 0, err
		}
		return n << 10, nil
	}
	return 0, nil
}

// Tree is a sample of a process and all its descendants at one instant.
type Tree struct {
	Root  Stat
	Descs map[int]Stat // descendants by pid
}

// ReadTree samples root and every process descended from it, found by
// walking parent links over all of /proc.
func ReadTree(root int) (Tree, error) {
	r, err := Read(root)
	if err != nil {
		return Tree{}, err
	}
	t := Tree{Root: r, Descs: map[int]Stat{}}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return t, err
	}
	parent := map[int]int{}
	stats := map[int]Stat{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		st := Stat{PID: pid}
		if parseStat(b, &st) != nil {
			continue
		}
		parent[pid] = st.PPID
		stats[pid] = st
	}
	for pid, st := range stats {
		for p, hops := st.PPID, 0; p > 1 && hops < 64; p, hops = parent[p], hops+1 {
			if p == root {
				if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
					st.RSS, _ = parseRSS(b)
				}
				t.Descs[pid] = st
				break
			}
		}
	}
	return t, nil
}

// DescCPU is the CPU the descendants spent between two samples: for a
// process present in both, the difference; for one that appeared, all of
// it. Descendants that exited in between are not counted (their time went
// to the parent's cutime, which is not read).
func DescCPU(before, after Tree) time.Duration {
	var d time.Duration
	for pid, a := range after.Descs {
		if b, ok := before.Descs[pid]; ok {
			d += a.CPU - b.CPU
		} else {
			d += a.CPU
		}
	}
	return d
}

// DescRSS is the total resident memory of the descendants.
func (t Tree) DescRSS() int64 {
	var n int64
	for _, s := range t.Descs {
		n += s.RSS
	}
	return n
}
