// Command mcpfort puts MCP servers on the network safely: a Streamable HTTP
// gateway for both protocol eras, with policies and authorization.
//
// Usage:
//
//	mcpfort serve --config FILE
//	mcpfort check-config FILE
//	mcpfort version
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
