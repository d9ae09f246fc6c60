package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// numberMark starts the text that a YAML number with a fraction or exponent stands in for
// while the document is decoded: a YAML string cannot hold a NUL character.
const numberMark = "\x00number:"

// yamlToJSON converts a YAML document (the first of the stream) to JSON, keeping each number
// as written: decoded the usual way, a number with a fraction passes through a float64, and
// an amount of 16 or more digits (99999999999999.99) comes out changed.
func yamlToJSON(doc []byte) ([]byte, error) {
	tokens := lexer.Tokenize(string(doc))
	for _, tk := range tokens {
		if tk.Type == token.FloatType {
			tk.Type, tk.Value = token.StringType, numberMark+tk.Value
		}
	}
	f, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, err
	}
	var v any
	if len(f.Docs) > 0 && f.Docs[0].Body != nil {
		if err := yaml.NodeToValue(f.Docs[0].Body, &v); err != nil {
			return nil, err
		}
	}
	v, err = restoreNumbers(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// restoreNumbers puts back the numbers that yamlToJSON marked, as JSON numbers written as
// the document wrote them.
func restoreNumbers(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			n, err := restoreNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	case []any:
		for i, e := range x {
			n, err := restoreNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case string:
		lit, ok := strings.CutPrefix(x, numberMark)
		if !ok {
			return x, nil
		}
		// YAML writes some numbers JSON does not (+1.5, .5, 1., 1_000.5): the same value in JSON's form.
		lit = strings.TrimPrefix(strings.ReplaceAll(lit, "_", ""), "+")
		sign := ""
		if strings.HasPrefix(lit, "-") {
			sign, lit = "-", lit[1:]
		}
		if strings.HasPrefix(lit, ".") {
			lit = "0" + lit
		}
		lit = strings.NewReplacer(".e", ".0e", ".E", ".0E").Replace(lit)
		if strings.HasSuffix(lit, ".") {
			lit += "0"
		}
		lit = sign + lit
		if !json.Valid([]byte(lit)) {
			return nil, fmt.Errorf("the number %s: write it as JSON does (0.5, 1.25, 1e3)", lit)
		}
		return json.Number(lit), nil
	}
	return v, nil
}
