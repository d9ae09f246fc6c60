package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// BINCmd groups the BIN table commands.
type BINCmd struct {
	Import BINImportCmd `cmd:"" help:"Add or update BIN rows from a CSV file (with a header row) or a JSON array. The server takes every row or none: when it rejects any, each is listed, nothing is imported, and the command exits 1."`
}

// BINImportCmd sends a BIN file to the admin API.
type BINImportCmd struct {
	AdminFlags
	File string `arg:"" help:"CSV with a header row of the field names (bin, bid, issuerName, issuerNameNative, issuingCountryCode, accountFundingSource, productId, productName, productNameNative, isDualBrand, isChip), or a JSON array of such objects."`
}

// binRowField is a problem's field in a BIN import: rows[i] or rows[i].field, i from 0.
var binRowField = regexp.MustCompile(`^rows\[(\d+)\](?:\.(.+))?$`)

// Run sends the file and prints how many rows were imported, or every row the server
// rejected.
func (c *BINImportCmd) Run(rc *runCtx) error {
	doc, err := os.ReadFile(c.File)
	if err != nil {
		return err
	}
	doc = bytes.TrimPrefix(doc, utf8BOM)
	ctype := "text/csv"
	switch strings.ToLower(filepath.Ext(c.File)) {
	case ".csv":
	case ".json":
		ctype = "application/json"
	default: // a JSON array starts with '['; a CSV header with a field name
		if t := bytes.TrimSpace(doc); len(t) > 0 && t[0] == '[' {
			ctype = "application/json"
		}
	}
	var res struct {
		Upserted int `json:"upserted"`
	}
	err = c.do(http.MethodPut, "/admin/v1/bins", ctype, bytes.NewReader(doc), &res)
	var ae *answerError
	if !errors.As(err, &ae) {
		if err != nil {
			return err
		}
		fmt.Fprintf(rc.out, "%d BIN rows imported (added or updated)\n", res.Upserted)
		return nil
	}
	var answer struct {
		Error struct {
			Details []struct {
				Field, Reason string
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(ae.body, &answer) != nil {
		return err
	}
	// Problems of rows are listed by row (counting data rows from 1: a CSV header is not a
	// row), in the server's order; any other problem is the file's and is reported as is.
	var lines []string
	rows := map[int]bool{}
	for _, d := range answer.Error.Details {
		m := binRowField.FindStringSubmatch(d.Field)
		if m == nil {
			return err
		}
		i, _ := strconv.Atoi(m[1])
		rows[i] = true
		if m[2] != "" {
			lines = append(lines, fmt.Sprintf("  row %d: %s: %s", i+1, m[2], d.Reason))
		} else {
			lines = append(lines, fmt.Sprintf("  row %d: %s", i+1, d.Reason))
		}
	}
	if len(rows) == 0 {
		return err
	}
	fmt.Fprintf(rc.out, "0 BIN rows imported: %d rows rejected (the server imports every row or none)\n", len(rows))
	for _, l := range lines {
		fmt.Fprintln(rc.out, l)
	}
	return fmt.Errorf("%d rows rejected; nothing was imported", len(rows))
}
