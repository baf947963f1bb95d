// Package auditcmd implements "mcpfort audit": verifying the audit chain,
// exporting records as JSON Lines, and printing the chain head to anchor
// elsewhere. The mcpfort command opens the store named by the
// configuration and hands it to Run.
//
// It must not import config, app or another policy.
package auditcmd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/subcmd"
)

// Usage is the help text of "mcpfort audit".
const Usage = `Usage: mcpfort audit COMMAND [--config FILE | --db DATABASE] [flags]

Commands:
  verify [--heads FILE | --no-heads] [--head-key KEY] [--key-file FILE]
         [--anchor SEQ:HASH]... [--json]
        check the hash chain (edited, inserted, reordered or removed
        records, a chain rewritten without the chain key) and check it
        against the signed heads the gateway wrote outside the database
        (by default the configured heads file), which catches a removed
        tail and a recomputed chain; anchors are heads printed earlier by
        "audit head". --key-file takes a bare key (--config reads the sealed
        one). Heads from a JSON operational log:
          jq -c 'select(.msg=="audit: chain head")
                 | {seq,hash,time:.head_time,key_id,sig}' LOG > heads.jsonl
  export [--since TIME] [--until TIME] [--output FILE]
        write records as JSON Lines; TIME is RFC 3339, a date (2026-01-31),
        or an age (90m, 24h, 7d)
  head [--public-key]
        print the chain head as SEQ:HASH, to keep outside the database, or
        the public key that verifies the signed heads (base64url)
`

// Options are what the mcpfort command knows from the configuration.
type Options struct {
	// Key is the chain key (nil for an unkeyed chain) and KeyedFrom the
	// first record it keys, as read from the sealed key file.
	Key       []byte
	KeyedFrom int64
	// HeadsFile is the signed heads file verify checks by default (""
	// for none).
	HeadsFile string
	// Now is the clock for relative times. If nil, time.Now.
	Now func() time.Time
}

// Run runs one "mcpfort audit" command and returns the exit code: 0 on
// success (for verify: an intact chain), 1 on failure or a broken chain,
// 2 on bad usage.
func Run(ctx context.Context, store *audit.Store, args []string, stdout, stderr io.Writer, opts Options) int {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	with := func(f func(context.Context, *audit.Store, []string, io.Writer, io.Writer, Options) error) subcmd.Func {
		return func(args []string) error { return f(ctx, store, args, stdout, stderr, opts) }
	}
	return subcmd.Run("mcpfort audit", Usage, map[string]subcmd.Func{
		"verify": with(verify), "export": with(export), "head": with(head),
	}, args, stdout, stderr)
}

// errBroken is a verification that found problems: they are printed, and
// the exit code is 1.
var errBroken = fmt.Errorf("the audit chain is broken: %w", subcmd.ErrReported)

type anchors []audit.Head

func (a *anchors) String() string { return "" }

func (a *anchors) Set(s string) error {
	h, err := audit.ParseAnchor(s)
	if err != nil {
		return err
	}
	*a = append(*a, h)
	return nil
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	return subcmd.FlagSet("audit "+name, Usage, stderr)
}

// parse parses flags; these commands take no positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	pos, err := subcmd.Parse(fs, args)
	if err == nil && len(pos) > 0 {
		err = subcmd.UsageError{Msg: "unexpected argument " + pos[0]}
	}
	return err
}

func verify(ctx context.Context, store *audit.Store, args []string, stdout, stderr io.Writer, opts Options) error {
	fs := flags("verify", stderr)
	keyFile := fs.String("key-file", "", "a bare chain key file (at least 32 bytes) keying every record, instead of the configured key")
	headsFile := fs.String("heads", "", "the signed heads to check against, as JSON Lines (default: the configured heads file)")
	noHeads := fs.Bool("no-heads", false, "check the chain without signed heads")
	headKey := fs.String("head-key", "", "the public key of the signed heads (default: derived from the chain key)")
	var as anchors
	fs.Var(&as, "anchor", "a head recorded earlier, as SEQ:HASH (repeatable)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	vo := audit.VerifyOptions{Key: opts.Key, KeyedFrom: opts.KeyedFrom, Anchors: as}
	if *keyFile != "" {
		k, err := audit.ReadKeyFile(*keyFile)
		if err != nil {
			return err
		}
		vo.Key, vo.KeyedFrom = k, 1
	}
	if *headKey != "" {
		k, err := audit.ParsePublicKey(*headKey)
		if err != nil {
			return subcmd.UsageError{Msg: err.Error()}
		}
		vo.HeadKey = k
	}
	path := *headsFile
	if path == "" {
		path = opts.HeadsFile
	}
	if *noHeads {
		if *headsFile != "" {
			return subcmd.UsageError{Msg: "give --heads or --no-heads, not both"}
		}
		path = ""
	}
	var missingHeads error
	if path != "" {
		hs, err := audit.ReadHeadsFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist) && *headsFile == "":
			// Checked below: only an empty chain has no heads yet.
			missingHeads = err
		case err != nil:
			fmt.Fprintf(stdout, "%v: the heads file cannot be trusted: chain BROKEN\n", err)
			return errBroken
		}
		vo.Heads = hs
	}
	rep, err := audit.Verify(ctx, store, vo)
	if err != nil {
		return err
	}
	if missingHeads != nil && rep.Records > 0 {
		rep.Problems = append([]audit.Problem{{Seq: 1, Kind: "head", Detail: fmt.Sprintf("there are no signed heads (%s is missing), so a rewritten or shortened chain cannot be told apart: the heads file was removed, or no gateway has written one", path)}}, rep.Problems...)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		if p := rep.First(); p != nil {
			fmt.Fprintf(stdout, "first bad record: %d (%s)\n", p.Seq, p.Kind)
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "record %d: %s: %s\n", p.Seq, p.Kind, p.Detail)
		}
		if rep.Truncated {
			fmt.Fprintf(stdout, "(more than %d problems; the first are shown)\n", audit.MaxProblems)
		}
		status := "intact"
		if !rep.OK() {
			status = "BROKEN"
		}
		fmt.Fprintf(stdout, "%d records, head %d:%s, %d signed heads (the last at record %d): chain %s\n",
			rep.Records, rep.Head.Seq, rep.Head.Hash, rep.Heads, rep.LastHead, status)
		if rep.OK() && rep.Heads == 0 && len(as) == 0 && rep.Records > 0 {
			fmt.Fprintln(stdout, "Without signed heads or anchors, a removed tail with a rewound head cannot be told from a shorter log.")
		}
	}
	if !rep.OK() {
		return errBroken
	}
	return nil
}

// parseTime reads RFC 3339, a date, or an age before now (90m, 24h, 7d).
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.UTC); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, subcmd.UsageError{Msg: fmt.Sprintf("%q is not a time: want RFC 3339, a date (2026-01-31) or an age (90m, 24h, 7d)", s)}
}

func export(ctx context.Context, store *audit.Store, args []string, stdout, stderr io.Writer, opts Options) error {
	fs := flags("export", stderr)
	since := fs.String("since", "", "only records at or after this time")
	until := fs.String("until", "", "only records before this time")
	output := fs.String("output", "", "write to this file instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	var f audit.Filter
	var err error
	now := opts.Now()
	if *since != "" {
		if f.Since, err = parseTime(*since, now); err != nil {
			return err
		}
	}
	if *until != "" {
		if f.Until, err = parseTime(*until, now); err != nil {
			return err
		}
	}
	w := stdout
	if *output != "" {
		file, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	n, err := audit.Export(ctx, store, w, f)
	if err != nil {
		return err
	}
	if *output != "" {
		fmt.Fprintf(stderr, "exported %d records to %s\n", n, *output)
	}
	return nil
}

func head(ctx context.Context, store *audit.Store, args []string, stdout, stderr io.Writer, opts Options) error {
	fs := flags("head", stderr)
	pub := fs.Bool("public-key", false, "print the public key that verifies the signed heads")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pub {
		if len(opts.Key) == 0 {
			return errors.New("no chain key is configured")
		}
		k, err := audit.HeadPublicKey(opts.Key)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, base64.RawURLEncoding.EncodeToString(k))
		return nil
	}
	h, err := store.Head(ctx)
	if err != nil {
		return err
	}
	if h.Seq == 0 {
		fmt.Fprintln(stdout, "the audit log is empty")
		return nil
	}
	fmt.Fprintf(stdout, "%d:%s\n", h.Seq, h.Hash)
	return nil
}
