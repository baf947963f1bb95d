// Package pincmd implements "mcpfort tools": listing, reviewing,
// approving and revoking tool pins in a pin store. The mcpfort command
// opens the store named by the configuration and hands it to Run.
//
// It must not import config, app or another policy.
package pincmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/subcmd"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
)

// Usage is the help text of "mcpfort tools".
const Usage = `Usage: mcpfort tools COMMAND [--config FILE | --db DATABASE] [flags] [args]

Commands:
  list [--server S] [--format text|json|pinfile]
        list approved tools and the definitions awaiting approval
  diff [SERVER [TOOL]]
        show what each awaiting definition changes, and its injection findings
  approve SERVER TOOL... | approve SERVER --all
        [--hash sha256:...] [--accept-findings] [--by NAME]
        approve the awaiting definitions (the latest seen, or the one --hash names)
  revoke SERVER TOOL [--by NAME]
        remove a tool's approval: it is quarantined again
`

// Run runs one "mcpfort tools" command against store and returns the exit
// code: 0 on success, 1 on failure, 2 on bad usage.
func Run(ctx context.Context, store pinning.Store, args []string, stdout, stderr io.Writer) int {
	with := func(f func(context.Context, pinning.Store, []string, io.Writer, io.Writer) error) subcmd.Func {
		return func(args []string) error { return f(ctx, store, args, stdout, stderr) }
	}
	return subcmd.Run("mcpfort tools", Usage, map[string]subcmd.Func{
		"list": with(list), "diff": with(diff), "approve": with(approve), "revoke": with(revoke),
	}, args, stdout, stderr)
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	return subcmd.FlagSet("tools "+name, Usage, stderr)
}

// latest keeps, per server and tool, the most recently seen candidate
// (candidates come most recent first).
func latest(cs []pinning.Candidate) []pinning.Candidate {
	seen := map[[2]string]bool{}
	var out []pinning.Candidate
	for _, c := range cs {
		k := [2]string{c.Server, c.Tool}
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b pinning.Candidate) int {
		if a.Server != b.Server {
			return strings.Compare(a.Server, b.Server)
		}
		return strings.Compare(a.Tool, b.Tool)
	})
	return out
}

func pinOf(pins []pinning.Pin, server, tool string) (pinning.Pin, bool) {
	for _, p := range pins {
		if p.Server == server && p.Tool == tool {
			return p, true
		}
	}
	return pinning.Pin{}, false
}

// state describes a candidate relative to the pins.
func state(c pinning.Candidate, pins []pinning.Pin) string {
	if _, ok := pinOf(pins, c.Server, c.Tool); ok {
		return "changed"
	}
	if from := pinning.RenamedFrom(c, pins); len(from) > 0 {
		return "new (same definition as " + strings.Join(from, ", ") + ": a rename)"
	}
	return "new"
}

func list(ctx context.Context, store pinning.Store, args []string, stdout, stderr io.Writer) error {
	fs := flags("list", stderr)
	server := fs.String("server", "", "only this server")
	format := fs.String("format", "text", "text, json or pinfile")
	pos, err := subcmd.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return subcmd.UsageError{Msg: "unexpected argument " + pos[0]}
	}
	pins, err := store.Pins(ctx, *server)
	if err != nil {
		return err
	}
	cands, err := store.Candidates(ctx, *server)
	if err != nil {
		return err
	}
	switch *format {
	case "pinfile":
		_, err := stdout.Write(pinning.FormatPinFile(pins))
		return err
	case "json":
		type entry struct {
			Server     string            `json:"server"`
			Tool       string            `json:"tool"`
			Status     string            `json:"status"`
			Hash       string            `json:"hash"`
			ApprovedBy string            `json:"approved_by,omitempty"`
			ApprovedAt *time.Time        `json:"approved_at,omitempty"`
			LastSeen   *time.Time        `json:"last_seen,omitempty"`
			Findings   []pinning.Finding `json:"findings,omitempty"`
		}
		var out []entry
		for _, p := range pins {
			out = append(out, entry{Server: p.Server, Tool: p.Tool, Status: "approved", Hash: p.Hash, ApprovedBy: p.ApprovedBy, ApprovedAt: &p.ApprovedAt})
		}
		for _, c := range latest(cands) {
			out = append(out, entry{Server: c.Server, Tool: c.Tool, Status: "awaiting approval: " + state(c, pins), Hash: c.Hash, LastSeen: &c.LastSeen, Findings: c.Findings})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "text":
	default:
		return subcmd.UsageError{Msg: "--format must be text, json or pinfile"}
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tTOOL\tSTATUS\tHASH\tSINCE\tBY")
	for _, p := range pins {
		fmt.Fprintf(tw, "%s\t%s\tapproved\t%s\t%s\t%s\n", p.Server, printable(p.Tool), short(p.Hash), p.ApprovedAt.Format(time.RFC3339), p.ApprovedBy)
	}
	for _, c := range latest(cands) {
		st := "awaiting (" + state(c, pins) + ")"
		if n := len(c.Findings); n > 0 {
			st += fmt.Sprintf(", %d findings", n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.Server, printable(c.Tool), st, short(c.Hash), c.FirstSeen.Format(time.RFC3339))
	}
	return tw.Flush()
}

func short(h string) string {
	if len(h) > 19 {
		return h[:19] + "…"
	}
	return h
}

// printable shows a name with its invisible characters spelled out.
func printable(s string) string {
	q := fmt.Sprintf("%+q", s)
	if q[1:len(q)-1] == s {
		return s
	}
	return q
}

func diff(ctx context.Context, store pinning.Store, args []string, stdout, stderr io.Writer) error {
	fs := flags("diff", stderr)
	pos, err := subcmd.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 2 {
		return subcmd.UsageError{Msg: "want at most SERVER and TOOL"}
	}
	server, tool := "", ""
	if len(pos) > 0 {
		server = pos[0]
	}
	if len(pos) > 1 {
		tool = pos[1]
	}
	pins, err := store.Pins(ctx, server)
	if err != nil {
		return err
	}
	cands, err := store.Candidates(ctx, server)
	if err != nil {
		return err
	}
	shown := 0
	for _, c := range latest(cands) {
		if tool != "" && c.Tool != tool {
			continue
		}
		shown++
		old, pinned := pinOf(pins, c.Server, c.Tool)
		fmt.Fprintf(stdout, "%s/%s: %s\n", c.Server, printable(c.Tool), state(c, pins))
		if pinned {
			fmt.Fprintf(stdout, "  approved: %s (%s, %s)\n", old.Hash, old.ApprovedBy, old.ApprovedAt.Format(time.RFC3339))
		}
		fmt.Fprintf(stdout, "  upstream: %s (first seen %s, last seen %s)\n", c.Hash, c.FirstSeen.Format(time.RFC3339), c.LastSeen.Format(time.RFC3339))
		for _, f := range c.Findings {
			fmt.Fprintf(stdout, "  finding:  %s at %s: %s\n", f.Kind, f.Path, f.Detail)
		}
		var before []byte
		if pinned {
			before = old.Definition
			if before == nil {
				fmt.Fprintln(stdout, "  (the approved definition came from a pin file: only its hash is known)")
			}
		}
		fmt.Fprintln(stdout)
		fmt.Fprint(stdout, indent(pinning.Diff(before, c.Definition)))
		fmt.Fprintln(stdout)
	}
	if shown == 0 {
		fmt.Fprintln(stdout, "No tool definitions await approval.")
	}
	return nil
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	return b.String()
}

func operator(by string) string {
	if by != "" {
		return by
	}
	if u := os.Getenv("USER"); u != "" {
		return pinning.ApprovedByOperator + ":" + u
	}
	return pinning.ApprovedByOperator
}

func approve(ctx context.Context, store pinning.Store, args []string, stdout, stderr io.Writer) error {
	fs := flags("approve", stderr)
	all := fs.Bool("all", false, "approve every awaiting definition of the server")
	hash := fs.String("hash", "", "approve the awaiting definition with this hash")
	accept := fs.Bool("accept-findings", false, "approve definitions with injection findings too")
	by := fs.String("by", "", "who approves (default: operator:$USER)")
	pos, err := subcmd.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return subcmd.UsageError{Msg: "want SERVER and TOOL..., or SERVER --all"}
	}
	server, tools := pos[0], pos[1:]
	if *all == (len(tools) > 0) {
		return subcmd.UsageError{Msg: "name the tools to approve, or give --all"}
	}
	if *hash != "" && len(tools) != 1 {
		return subcmd.UsageError{Msg: "--hash names one definition: give exactly one TOOL"}
	}
	cands, err := store.Candidates(ctx, server)
	if err != nil {
		return err
	}
	var chosen []pinning.Candidate
	if *all {
		chosen = latest(cands)
	}
	for _, t := range tools {
		var c *pinning.Candidate
		for i := range cands { // most recent first
			if cands[i].Tool == t && (*hash == "" || cands[i].Hash == *hash) {
				c = &cands[i]
				break
			}
		}
		if c == nil {
			if *hash != "" {
				return fmt.Errorf("no definition of %s/%s with hash %s awaits approval", server, t, *hash)
			}
			return fmt.Errorf("no definition of %s/%s awaits approval", server, t)
		}
		chosen = append(chosen, *c)
	}
	if len(chosen) == 0 {
		fmt.Fprintf(stdout, "No tool definitions of %s await approval.\n", server)
		return nil
	}
	var refused []string
	approved := 0
	for _, c := range chosen {
		if len(c.Findings) > 0 && !*accept {
			refused = append(refused, c.Tool)
			continue
		}
		err := store.Approve(ctx, pinning.Pin{Server: c.Server, Tool: c.Tool, Hash: c.Hash, Definition: c.Definition,
			ApprovedAt: time.Now(), ApprovedBy: operator(*by)})
		if err != nil {
			return err
		}
		approved++
		fmt.Fprintf(stdout, "approved %s/%s %s\n", c.Server, printable(c.Tool), c.Hash)
	}
	if len(refused) > 0 {
		return fmt.Errorf("not approved, because the scanner found injection cues in them (review with \"mcpfort tools diff\", then add --accept-findings): %s",
			strings.Join(refused, ", "))
	}
	if approved > 0 {
		fmt.Fprintln(stdout, "Replicas apply approvals within their pin cache time (5s by default).")
	}
	return nil
}

func revoke(ctx context.Context, store pinning.Store, args []string, stdout, stderr io.Writer) error {
	fs := flags("revoke", stderr)
	by := fs.String("by", "", "who revokes (default: operator:$USER)")
	pos, err := subcmd.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return subcmd.UsageError{Msg: "want SERVER and TOOL"}
	}
	if err := store.Revoke(ctx, pos[0], pos[1], operator(*by)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s/%s: the tool is quarantined until approved again\n", pos[0], printable(pos[1]))
	return nil
}
