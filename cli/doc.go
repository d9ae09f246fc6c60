package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
)

// utf8BOM is the byte order mark some editors put at the start of a UTF-8 file.
var utf8BOM = []byte("\ufeff")

// docType answers the Content-Type of a campaign document: YAML or JSON by the file's
// extension, or else by its content (JSON when it is JSON, or looks like it and is no YAML
// either, so that its error is JSON's).
func docType(name string, doc []byte) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return "application/yaml"
	case ".json":
		return "application/json"
	}
	if json.Valid(doc) {
		return "application/json"
	}
	if t := bytes.TrimSpace(doc); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		var v any
		if yaml.Unmarshal(doc, &v) != nil {
			return "application/json"
		}
	}
	return "application/yaml"
}

// unmarshalDoc decodes a JSON or YAML document into v. Its error names the format and where
// in the document the problem is (line and column).
func unmarshalDoc(doc []byte, contentType string, v any) error {
	if contentType == "application/yaml" {
		if err := yaml.Unmarshal(doc, v); err != nil {
			// The message starts with [line:column] and shows the lines around the problem.
			return fmt.Errorf("not valid YAML: %s", strings.TrimRight(yaml.FormatError(err, false, true), "\n "))
		}
		return nil
	}
	if err := json.Unmarshal(doc, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("not valid JSON: %s: %v", position(doc, se.Offset), err)
		case errors.As(err, &te):
			return fmt.Errorf("not valid JSON: %s: %v", position(doc, te.Offset), err)
		}
		return fmt.Errorf("not valid JSON: %v", err)
	}
	return nil
}

// position answers "line L, column C" (from 1, in bytes) of the last byte encoding/json read
// before it failed, offset bytes into doc: the byte it could not take.
func position(doc []byte, offset int64) string {
	before := doc[:min(max(offset-1, 0), int64(len(doc)))]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}
