// Package cluster holds the fault test of a mcpfort cluster: three
// replicas of the mcpfort binary on a private PostgreSQL and Redis behind
// HAProxy (round robin, no stickiness), 200 clients of both protocol eras
// on an HTTP and a stdio upstream, while replicas are killed and stopped
// and the stores are stopped and restarted. It runs with "make
// test-cluster" (MCPFORT_CLUSTER=1); plain "go test ./..." skips it.
package cluster
