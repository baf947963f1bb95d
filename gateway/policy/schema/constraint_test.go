package schema

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePointer(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"/query", []string{"query"}, false},
		{"/a/0/b", []string{"a", "0", "b"}, false},
		{"/a~1b/c~0d", []string{"a/b", "c~d"}, false},
		{"/~01", []string{"~1"}, false}, // RFC 6901 section 4: ~01 is ~1, not /
		{"/", []string{""}, false},
		{"/*/x", []string{"*", "x"}, false},
		{"", nil, true},
		{"query", nil, true},
		{"/a~2", nil, true},
		{"/a~", nil, true},
		{"/" + strings.Repeat("a/", 70), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePointer(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileConstraintsReportsAll(t *testing.T) {
	lo, hi := 5.0, 1.0
	_, err := compileConstraints([]ToolConstraints{
		{Tool: "", Args: []Constraint{{Path: "x"}}},
		{Tool: "t", Args: []Constraint{{Path: "/a", Pattern: "(", DenyPattern: "[", MinLength: 3, MaxLength: 2, Minimum: &lo, Maximum: &hi, MaxItems: -1}}},
		{Tool: "t", Args: []Constraint{{Path: "/b", Enum: []any{func() {}}}}},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"constraints[0].tool", `constraints[0].args[0] (x)`, "pattern:", "denyPattern:", "minLength exceeds maxLength", "minimum exceeds maximum", "must not be negative", "enum:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestConstraintCheck(t *testing.T) {
	three := 3.0
	tests := []struct {
		name string
		c    Constraint
		args string
		want []violation
	}{
		{"wildcard over objects", Constraint{Path: "/m/*", MaxLength: 2}, `{"m":{"a":"ok","b/c":"long"}}`, []violation{{"/m/b~1c", "is longer than 2 characters"}}},
		{"wildcard over arrays", Constraint{Path: "/l/*/v", Deny: []any{"x"}}, `{"l":[{"v":"y"},{"v":"x"},{}]}`, []violation{{"/l/1/v", "is a value refused by gateway policy"}}},
		{"index", Constraint{Path: "/l/1", Enum: []any{true}}, `{"l":[0,false]}`, []violation{{"/l/1", "is not one of the values allowed by gateway policy"}}},
		{"missing optional", Constraint{Path: "/a/b", MaxLength: 1}, `{}`, nil},
		{"required under a present parent", Constraint{Path: "/a/b", Required: true}, `{"a":{}}`, []violation{{"/a/b", "is required by gateway policy"}}},
		{"required under an absent parent", Constraint{Path: "/a/b", Required: true}, `{}`, nil},
		{"length counts characters", Constraint{Path: "/s", MaxLength: 3}, `{"s":"ééé"}`, nil},
		{"numbers compare by value", Constraint{Path: "/n", Deny: []any{1}}, `{"n":1.0}`, []violation{{"/n", "is a value refused by gateway policy"}}},
		{"number bound", Constraint{Path: "/n", Minimum: &three}, `{"n":2.99}`, []violation{{"/n", "must be at least 3"}}},
		{"number type", Constraint{Path: "/n", Minimum: &three}, `{"n":"9"}`, []violation{{"/n", "must be a number"}}},
		{"structured enum", Constraint{Path: "/o", Enum: []any{map[string]any{"k": []any{1, "x"}}}}, `{"o":{"k":[1.0,"x"]}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := compileConstraint(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			v, err := decodeArgs([]byte(tt.args), defaultDepth, defaultValues)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.check(v, nil), cmp.AllowUnexported(violation{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeArgsLimits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  string
	}{
		{"ordinary", `{"a":[1,2.5,-3e10,"x",null,true]}`, ""},
		{"deep", strings.Repeat("[", 40) + strings.Repeat("]", 40), "nested deeper than 32 levels"},
		{"many values", "[" + strings.TrimSuffix(strings.Repeat("1,", 200), ",") + "]", "more than 100 values"},
		{"huge exponent", `[1e1001]`, "out of range"},
		{"tiny exponent", `[1E-1001]`, "out of range"},
		{"long number", `[` + strings.Repeat("9", 129) + `]`, "longer than 128"},
		{"not JSON", `{`, "not valid JSON"},
		{"two values", `{} {}`, "not a single JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeArgs([]byte(tt.in), defaultDepth, 100)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}
