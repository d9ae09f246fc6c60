package httpapi

import (
	"strings"
	"testing"
)

// A YAML campaign document becomes the JSON document it says, numbers as written: one of 16
// or more digits is not rounded through a float64.
func TestYAMLToJSONKeepsNumbersAsWritten(t *testing.T) {
	for _, c := range []struct{ yaml, json string }{
		{"amount: 99999999999999.99", `{"amount":99999999999999.99}`},
		{"a: 1.10\nb: -0.25\nd: 2.5E-2", `{"a":1.10,"b":-0.25,"d":2.5E-2}`},
		{"a: +1.5\nb: .5\nc: -.5\nd: 1.\ne: 1_000.5", `{"a":1.5,"b":0.5,"c":-0.5,"d":1.0,"e":1000.5}`},
		{"n: 12\nq: \"1.50\"\nt: true\nz: null\ns: text", `{"n":12,"q":"1.50","s":"text","t":true,"z":null}`},
		{"base: &b {amount: 0.10}\nuse: *b\nlist: [1.5, {x: 2.25}]", `{"base":{"amount":0.10},"list":[1.5,{"x":2.25}],"use":{"amount":0.10}}`},
		{"a: &m {x: 1.5}\nb:\n  <<: *m\n  y: 2.5", `{"a":{"x":1.5},"b":{"x":1.5,"y":2.5}}`},
	} {
		got, err := yamlToJSON([]byte(c.yaml))
		if err != nil || string(got) != c.json {
			t.Errorf("%q: %s %v, want %s", c.yaml, got, err, c.json)
		}
	}
	for _, bad := range []string{"a: .inf", "a: [1.5", "a: 01.5"} {
		if got, err := yamlToJSON([]byte(bad)); err == nil {
			t.Errorf("%q: %s, want an error", bad, got)
		}
	}
	if _, err := yamlToJSON([]byte("a: .nan")); err == nil || strings.Contains(err.Error(), "\x00") {
		t.Errorf(".nan: %v, want an error without the marker", err)
	}
}
