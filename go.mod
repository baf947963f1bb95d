module github.com/mcpfort/mcpfort

go 1.26
