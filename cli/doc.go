package cli

import (
	"encoding/json"

	"github.com/goccy/go-yaml"
)

func unmarshalDoc(doc []byte, contentType string, v any) error {
	if contentType == "application/yaml" {
		return yaml.Unmarshal(doc, v)
	}
	return json.Unmarshal(doc, v)
}
