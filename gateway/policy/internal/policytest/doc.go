// Package policytest runs policies the way production does, for their
// tests: a real go-sdk MCP server over loopback HTTP as the upstream, a real
// gateway.Gateway with the policies as middleware, and the go-sdk client.
// The stream matrix (streams.go) runs a go-sdk server over HTTP or over
// stdio (the test binary itself) behind the gateway, and clients written
// by hand that show exactly what reaches them on GET, resumed and
// subscriptions/listen streams, in both eras and bridged.
//
// It is imported only by tests of gateway/policy packages; it must not
// import a policy.
package policytest
