package app

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// readyz answers whether this replica should get traffic, and names what
// it depends on: the database and Redis (pinged, within a second each) and
// each route's upstream. 503 while starting, draining, or when a store does
// not answer. Failures are logged, not shown: the endpoint is public and
// an error may name internal hosts.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	type check struct {
		Name   string `json:"name"`
		Kind   string `json:"kind"`
		Status string `json:"status"`
	}
	body := struct {
		Status string  `json:"status"`
		Checks []check `json:"checks"`
	}{Status: "ready"}
	ping := func(name, kind string, f func(context.Context) error) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		st := "ok"
		if err := f(ctx); err != nil {
			st = "unavailable"
			body.Status = "unavailable"
			a.log.Warn("readiness: not reachable", "name", name, "err", err)
		}
		body.Checks = append(body.Checks, check{name, kind, st})
	}
	if a.db != nil {
		ping(a.cfg.State.Database, "database", a.db.Ping)
		if db := a.cfg.State.Database; db != "sqlite" {
			body.Checks[len(body.Checks)-1].Name = "postgres"
		}
	}
	if a.rdb != nil {
		ping("redis", "redis", func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() })
	}
	for _, rt := range a.routes {
		kind := "http"
		for _, s := range a.cfg.Servers {
			if s.Name == rt.name && s.Stdio != nil {
				kind = "stdio"
			}
		}
		body.Checks = append(body.Checks, check{Name: rt.name, Kind: "upstream " + kind, Status: "ok"})
	}
	if !a.ready.Load() {
		body.Status = "unavailable"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if body.Status != "ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}
