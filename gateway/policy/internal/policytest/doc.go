// Package policytest runs policies the way production does, for their
// tests: a real go-sdk MCP server over loopback HTTP as the upstream, a real
// gateway.Gateway with the policies as middleware, and the go-sdk client.
//
// It is imported only by tests of gateway/policy packages; it must not
// import a policy.
package policytest
