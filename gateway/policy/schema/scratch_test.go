package schema

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestScratchMeta(t *testing.T) {
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"$ref":"https://json-schema.org/draft/2020-12/schema"}`)))
	c := jsonschema.NewCompiler()
	c.UseLoader(refuseLoader{})
	c.AddResource(schemaURL, doc)
	sch, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	b := &budget{limit: 1 << 60, memo: map[*jsonschema.Schema][]int64{}, depth: 32, dyn: map[string][]*jsonschema.Schema{}}
	b.collect(sch, map[*jsonschema.Schema]bool{})
	for k := 0; k <= 32; k++ {
		c, err := b.cost(sch, k)
		fmt.Println(k, c, err)
	}
	fmt.Println(len(b.dyn["meta"]), len(b.memo))
}
