package pii_test

import (
	"testing"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
)

func TestImports(t *testing.T) { policytest.CheckImports(t, "pii") }
