package pii

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the measured figures in testdata/README.md")

type corpusExample struct {
	Text   string `json:"text"`
	Labels []struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
	} `json:"labels"`
	Note string `json:"note"`
}

func loadCorpus(t testing.TB) []corpusExample {
	t.Helper()
	f, err := os.Open("testdata/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusExample
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e corpusExample
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("corpus line %d: %v", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out
}

// allPresets is a policy with every detector and every national id preset.
func allPresets(t testing.TB) *Policy {
	t.Helper()
	var ns []NationalIDPattern
	for name := range NationalIDPresets() {
		ns = append(ns, NationalIDPattern{Name: name})
	}
	p, err := New(Options{NationalIDs: ns})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type counts struct{ tp, fp, fn, pos int }

func (c counts) precision() float64 {
	if c.tp+c.fp == 0 {
		return 1
	}
	return float64(c.tp) / float64(c.tp+c.fp)
}

func (c counts) recall() float64 {
	if c.tp+c.fn == 0 {
		return 1
	}
	return float64(c.tp) / float64(c.tp+c.fn)
}

// TestCorpus measures every detector on the labelled corpus. A finding
// counts only when its kind and its exact text match a label; a finding
// with the wrong span is both a false positive and a false negative.
func TestCorpus(t *testing.T) {
	p := allPresets(t)
	corpus := loadCorpus(t)
	per := map[Kind]*counts{}
	for _, k := range Kinds() {
		per[k] = &counts{}
	}
	for _, e := range corpus {
		want := map[string]int{}
		for _, l := range e.Labels {
			k, err := ParseKind(l.Kind)
			if err != nil {
				t.Fatal(err)
			}
			want[l.Kind+"\x00"+l.Value]++
			per[k].pos++
		}
		for _, f := range p.Scan(e.Text) {
			key := f.Kind.String() + "\x00" + e.Text[f.Start:f.End]
			if want[key] > 0 {
				want[key]--
				per[f.Kind].tp++
				continue
			}
			per[f.Kind].fp++
			t.Logf("false positive %s %q in %q (%s)", f.Kind, e.Text[f.Start:f.End], e.Text, e.Note)
		}
		for key, n := range want {
			if n == 0 {
				continue
			}
			kind, value, _ := strings.Cut(key, "\x00")
			k, _ := ParseKind(kind)
			per[k].fn += n
			t.Logf("missed %s %q in %q (%s)", kind, value, e.Text, e.Note)
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| detector | labelled values | true pos. | false pos. | false neg. | precision | recall |\n")
	fmt.Fprintf(&table, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range Kinds() {
		c := per[k]
		fmt.Fprintf(&table, "| %s | %d | %d | %d | %d | %.3f | %.3f |\n", k, c.pos, c.tp, c.fp, c.fn, c.precision(), c.recall())
	}
	t.Logf("%d examples\n%s", len(corpus), table.String())
	// Floors that catch regressions; the README holds the measured figures.
	for _, k := range Kinds() {
		c := per[k]
		if c.precision() < 0.95 || c.recall() < 0.85 {
			t.Errorf("%s: precision %.3f, recall %.3f below the floor (0.95, 0.85)", k, c.precision(), c.recall())
		}
	}
	if *update {
		updateREADME(t, len(corpus), table.String())
	}
}

func updateREADME(t *testing.T, n int, table string) {
	const begin, end = "<!-- corpus:begin -->", "<!-- corpus:end -->"
	b, err := os.ReadFile("testdata/README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("testdata/README.md lacks the corpus markers")
	}
	body := fmt.Sprintf("%s\n%d examples. Measured with `go test -run TestCorpus -v ./gateway/policy/pii/`.\n\n%s%s", begin, n, table, end)
	if err := os.WriteFile("testdata/README.md", []byte(s[:i]+body+s[j+len(end):]), 0o644); err != nil {
		t.Fatal(err)
	}
}
