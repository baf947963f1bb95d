package procstat

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	// proc(5) stat for a process whose command name holds spaces and
	// parentheses: fields are counted from the last ')'.
	line := "1234 (a) (b c)) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 4 0 123 456 789\n"
	var st Stat
	if err := parseStat([]byte(line), &st); err != nil {
		t.Fatal(err)
	}
	want := Stat{PPID: 77, CPU: 281 * ClockTick}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "1234 (x S 1", "1 (x) S 1 2", "1 (x) S a 1 1 0 -1 0 0 0 0 0 u s"} {
		if err := parseStat([]byte(bad), &st); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestParseRSS(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"Name:\tx\nVmPeak:\t 10 kB\nVmRSS:\t    2048 kB\nThreads: 3\n", 2048 << 10, true},
		{"Name:\tkthreadd\nState:\tS\n", 0, true},
		{"VmRSS:\t12 MB\n", 0, false},
		{"VmRSS:\tmany kB\n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseRSS([]byte(tt.in))
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseRSS(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestReadSelf(t *testing.T) {
	st, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.PPID != os.Getppid() || st.RSS <= 0 || st.CPU < 0 {
		t.Errorf("Read(self) = %+v", st)
	}
}

func TestReadGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	if _, err := Read(cmd.Process.Pid); err != ErrGone {
		t.Errorf("Read(reaped pid) error = %v, want ErrGone", err)
	}
}

// TestReadTree starts a shell that starts a child, and finds both below
// the test process.
func TestReadTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & echo started; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skip("no sh(1):", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// The shell prints once it has started sleep: no waiting on time.
	buf := make([]byte, 8)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	tree, err := ReadTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sh, ok := tree.Descs[cmd.Process.Pid]
	if !ok {
		t.Fatalf("shell %d not among descendants %v", cmd.Process.Pid, tree.Descs)
	}
	grand := 0
	for pid, st := range tree.Descs {
		if st.PPID == sh.PID {
			grand = pid
		}
	}
	if grand == 0 {
		t.Fatalf("the shell's child is not among descendants %v", tree.Descs)
	}
	if tree.DescRSS() <= 0 {
		t.Error("descendants report no memory")
	}
	later := tree
	later.Descs = map[int]Stat{grand: {PID: grand, CPU: tree.Descs[grand].CPU + 30*time.Millisecond}, 1: {PID: 1, CPU: time.Second}}
	if got := DescCPU(tree, later); got != 30*time.Millisecond+time.Second {
		t.Errorf("DescCPU = %v, want the growth of known pids plus all of new ones", got)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 5 7 0 0 20 0 1 0 1 2 3\n"))
	f.Add([]byte("9 ()) (() R 1 2 3 4 5 6 7 8 9 10 11 12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st Stat
		if parseStat(b, &st) == nil && st.CPU < 0 {
			t.Fatalf("negative CPU from %q", b)
		}
		_, _ = parseRSS(b)
	})
}
