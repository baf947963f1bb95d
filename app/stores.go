package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/transport"
)

// buildPinning builds the one pinning policy shared by the routes that
// enable it, on the state database.
func (a *App) buildPinning(ctx context.Context) error {
	servers := map[string]pinning.ServerOptions{}
	for _, s := range a.cfg.Servers {
		if p := s.Policies.Pinning; p != nil && p.Enabled {
			servers[s.Name] = pinning.ServerOptions{TrustOnFirstUse: p.TrustOnFirstUse, AllowFindings: p.AllowFindings, AllowUnapproved: p.AllowUnapproved}
		}
	}
	if len(servers) == 0 {
		return nil
	}
	db, err := a.database(ctx)
	if err != nil {
		return fmt.Errorf("pinning store: %w", err)
	}
	store := pinning.NewSQLStore(db)
	var pins []pinning.Pin
	if f := a.cfg.Pinning.PinFile; f != "" {
		b, err := os.ReadFile(a.cfg.Resolve(f))
		if err != nil {
			return fmt.Errorf("pinning.pin_file: %w", err)
		}
		if pins, err = pinning.ParsePinFile(b); err != nil {
			return fmt.Errorf("pinning.pin_file: %w", err)
		}
	}
	p, err := pinning.New(pinning.Options{Store: store, Servers: servers, PinFile: pins, ExtraCues: a.cfg.Pinning.ExtraCues,
		Logger: a.log.With("policy", "pinning")})
	if err != nil {
		return fmt.Errorf("pinning: %w", err)
	}
	a.pinning = p
	return nil
}

// buildAudit opens the audit log on the state database. It is closed
// (flushed) after the HTTP server stops, before the stores.
func (a *App) buildAudit(ctx context.Context) error {
	ac := a.cfg.Audit
	if !*ac.Enabled {
		return nil
	}
	if ac.Heads.Interval < 0 {
		return errors.New("audit.heads.interval must not be negative")
	}
	var masker *pii.Policy
	if ac.RecordArguments || ac.RecordResults {
		// Recorded arguments and results are PII-masked: the log masker
		// with its defaults (redact) unless a default policy says more.
		m, err := piiPolicy(orDefaultPII(a.cfg.Policies.PII), func() *pii.Options { return &pii.Options{Logger: a.log} })
		if err != nil {
			return fmt.Errorf("audit masking: %w", err)
		}
		masker = m
	}
	// The chain key is read (or created) against the chain as it is, so
	// the store is opened once without it.
	db, err := a.database(ctx)
	if err != nil {
		return fmt.Errorf("audit store: %w", err)
	}
	bare, err := audit.NewStore(db, audit.StoreOptions{})
	if err != nil {
		return fmt.Errorf("audit store: %w", err)
	}
	key, _, err := a.auditChainKey(ctx, bare)
	if err != nil {
		return err
	}
	store, err := audit.NewStore(db, audit.StoreOptions{Key: key})
	if err != nil {
		return fmt.Errorf("audit store: %w", err)
	}
	var heads *audit.HeadsWriter
	if ac.Heads.InsecureDisable {
		a.log.Warn("audit: heads.insecure_disable is set: no signed chain heads are kept outside the database")
	} else {
		ho := audit.HeadsOptions{Key: key, File: a.auditHeadsPath(), Now: a.now}
		if ac.Heads.Log == nil || *ac.Heads.Log {
			ho.Logger = a.log.With("component", "audit")
		}
		if heads, err = audit.OpenHeads(ho); err != nil {
			return err
		}
		a.log.Info("audit: chain heads are signed", "component", "audit", "public_key", heads.PublicKey(), "file", ho.File)
	}
	opts := audit.Options{Sink: store, RecordArguments: ac.RecordArguments, RecordResults: ac.RecordResults,
		AllowUnrecorded: ac.AllowUnrecorded, ReplyBeforeWrite: ac.ReplyBeforeWrite, QueueSize: ac.QueueSize, Logger: a.log.With("component", "audit"),
		HeadInterval: ac.Heads.Interval.D(), RequestID: transport.RequestID, TraceID: traceID}
	if heads != nil {
		opts.Heads = heads
	}
	if masker != nil {
		opts.Mask = masker.LogJSON
	}
	closeHeads := func() error {
		if heads == nil {
			return nil
		}
		return heads.Close()
	}
	l, err := audit.New(opts)
	if err != nil {
		closeHeads()
		return fmt.Errorf("audit: %w", err)
	}
	a.audit = l
	// Flush the log (it writes the last head) before closing the heads
	// file; the database closes after (closeAll).
	a.closers = append(a.closers, func(ctx context.Context) error {
		err := l.Close(ctx)
		return errors.Join(err, closeHeads())
	})
	return nil
}

func orDefaultPII(p *config.PII) *config.PII {
	if p == nil {
		return &config.PII{}
	}
	return p
}

// traceID is the trace id the call's SERVER span recorded for the request.
func traceID(ctx context.Context) string {
	if rl := transport.RequestLogFrom(ctx); rl != nil {
		return rl.TraceID
	}
	return ""
}
