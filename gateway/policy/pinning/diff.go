package pinning

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Pretty indents a canonical definition for reading, one member per line,
// keeping the canonical member order.
func Pretty(canon []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, canon, "", "  "); err != nil {
		return string(canon)
	}
	return b.String()
}

// Diff is a line diff of two canonical definitions, pretty-printed: lines
// only in old start with "-", lines only in new with "+", and up to three
// unchanged lines around each change with " ". An old of nil (a new tool)
// shows every line as added.
func Diff(old, new []byte) string {
	var a []string
	if old != nil {
		a = strings.Split(Pretty(old), "\n")
	}
	b := strings.Split(Pretty(new), "\n")
	ops := diffLines(a, b)
	const context = 3
	keep := make([]bool, len(ops))
	for i, op := range ops {
		if op.kind != ' ' {
			for j := max(0, i-context); j <= min(len(ops)-1, i+context); j++ {
				keep[j] = true
			}
		}
	}
	var out strings.Builder
	skipped := false
	for i, op := range ops {
		if !keep[i] {
			skipped = true
			continue
		}
		if skipped {
			out.WriteString("  ...\n")
			skipped = false
		}
		fmt.Fprintf(&out, "%c %s\n", op.kind, visible(op.line))
	}
	if skipped {
		out.WriteString("  ...\n")
	}
	return out.String()
}

type diffOp struct {
	kind byte // ' ', '-' or '+'
	line string
}

// diffLines is a longest-common-subsequence line diff; definitions are a
// few hundred lines at most.
func diffLines(a, b []string) []diffOp {
	if len(a)*len(b) > 4_000_000 {
		// Too large to align: show all of old removed and all of new added.
		ops := make([]diffOp, 0, len(a)+len(b))
		for _, l := range a {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range b {
			ops = append(ops, diffOp{'+', l})
		}
		return ops
	}
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, diffOp{'-', a[i]})
	}
	for ; j < m; j++ {
		ops = append(ops, diffOp{'+', b[j]})
	}
	return ops
}

// visible spells out the characters a terminal would hide or reorder, so
// that the operator reviewing a diff sees what the model would read.
func visible(s string) string {
	var b strings.Builder
	var prev rune
	for _, r := range s {
		if hiddenClass(r, prev, 0) != "" && r != '\t' {
			fmt.Fprintf(&b, "<U+%04X>", r)
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// RenamedFrom lists the pinned tools of the candidate's server whose
// definition, name aside, is the candidate's: the candidate is then a
// rename, which pinning treats as a new tool.
func RenamedFrom(c Candidate, pins []Pin) []string {
	body := bodyHash(c.Definition)
	if body == "" {
		return nil
	}
	var out []string
	for _, p := range pins {
		if p.Server == c.Server && p.Tool != c.Tool && p.Definition != nil && bodyHash(p.Definition) == body {
			out = append(out, p.Tool)
		}
	}
	return out
}
