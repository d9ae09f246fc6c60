package httpapi

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
)

// ingestBatch is how many rows go to the engine in one database transaction; a batch also
// ends at ingestBatchBytes of field text, so that rows of long fields (up to 64 KiB each) keep
// the few batches in flight within memory.
const (
	ingestBatch      = 10000
	ingestBatchBytes = 16 << 20
)

// rowSource yields transactions one at a time from a streamed body. A row that cannot be read
// as a transaction comes back with a reason; a body that cannot go on ends with an error.
type rowSource interface {
	next() (in platform.TxnInput, reason string, err error) // io.EOF at the end
}

func (a *API) postTransactions(w http.ResponseWriter, r *http.Request) {
	// The body is read as it comes: compressed bytes would be read as rows of garbage.
	if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		var ve vsrp.ValidationError
		ve.Add("Content-Encoding", "%q is not supported: send the file uncompressed", ce)
		a.adminFail(w, r, &ve)
		return
	}
	r.Body = withoutBOM(r.Body) // streamed, so of any size (contract 8): memory holds a few batches
	// A large file takes longer than the server's usual deadlines.
	rc := http.NewResponseController(w)
	if err := errors.Join(rc.SetReadDeadline(time.Time{}), rc.SetWriteDeadline(time.Time{})); err != nil {
		logger(r.Context()).Warn("cannot lift the connection deadlines for a long upload", "err", err)
	}
	var src rowSource
	var err error
	switch mediaType(r) {
	case "text/csv":
		src, err = newCSVSource(r.Body)
	case "application/x-ndjson", "application/jsonl", "application/x-jsonlines":
		src = &ndjsonSource{r: bufio.NewReaderSize(r.Body, maxJSONRow)}
	default:
		src, err = newJSONArraySource(r.Body)
	}
	if err != nil {
		var ve vsrp.ValidationError
		ve.Add("body", "%v", err)
		a.adminFail(w, r, &ve)
		return
	}
	// Three stages overlap: this goroutine reads the stream into batches, one goroutine checks
	// each batch (Prepare) and another commits the checked batches in order.
	type job struct {
		rows  []platform.TxnInput
		first int
	}
	jobs := make(chan job, 1)
	prepared := make(chan *platform.Batch, 1)
	var sum platform.IngestSummary
	var ingestErr, prepareErr error
	var failed atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(prepared)
		for j := range jobs {
			if prepareErr != nil {
				continue
			}
			b, err := a.p.Prepare(r.Context(), j.rows, j.first)
			if err != nil {
				prepareErr = err
				failed.Store(true)
				continue
			}
			prepared <- b
		}
	}()
	go func() {
		defer close(done)
		for b := range prepared {
			if ingestErr != nil {
				continue
			}
			s, err := a.p.Commit(r.Context(), b)
			if err != nil {
				ingestErr = err
				failed.Store(true)
				continue
			}
			sum.Add(s)
		}
	}()
	var unreadable []platform.RowError
	unreadableRows := 0
	batch := make([]platform.TxnInput, 0, ingestBatch)
	batchBytes := 0
	first, row := 1, 0
	// flush hands the batch (rows first…row) over; the next batch starts after row.
	flush := func() {
		if len(batch) > 0 {
			jobs <- job{rows: batch, first: first}
			batch, batchBytes = make([]platform.TxnInput, 0, ingestBatch), 0
		}
		first = row + 1
	}
	var streamErr error
	for !failed.Load() {
		in, reason, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			streamErr = err
			break
		}
		if reason != "" {
			flush() // the batch so far ends before this row
			row++
			first = row + 1
			if len(unreadable) < platform.MaxListedErrors { // the first ones by row; the rest are counted
				unreadable = append(unreadable, platform.RowError{Row: row, TransactionID: in.TransactionID, Reason: reason})
			}
			unreadableRows++
			continue
		}
		row++
		batch = append(batch, in)
		if batchBytes += in.Size(); len(batch) == ingestBatch || batchBytes >= ingestBatchBytes {
			flush()
		}
	}
	flush()
	close(jobs)
	<-done
	if ingestErr == nil {
		ingestErr = prepareErr
	}
	sum.AddUnreadable(unreadable, unreadableRows)
	if sum.Errors == nil {
		sum.Errors = []platform.RowError{}
	}
	for i := range sum.Errors { // a rejected row's id may be anything up to a row's length
		sum.Errors[i].TransactionID = clip(sum.Errors[i].TransactionID, maxEchoedID)
	}
	// An answer that is an error still says what was stored and rejected before it.
	failure := func(e map[string]any) map[string]any {
		out := map[string]any{"error": e, "accepted": sum.Accepted, "duplicates": sum.Duplicates, "rejected": sum.Rejected,
			"errors": sum.Errors}
		if sum.ErrorsOmitted > 0 {
			out["errorsOmitted"] = sum.ErrorsOmitted
		}
		return out
	}
	if r.Context().Err() != nil {
		// The client went away (an interrupted upload): nobody reads an answer, and it is no
		// fault of the server's. The batches committed before stay stored.
		logger(r.Context()).Info("the client closed the connection during an import", "rowsRead", row,
			"accepted", sum.Accepted, "duplicates", sum.Duplicates, "rejected", sum.Rejected)
		return
	}
	if ingestErr != nil {
		// The batches committed before the failure stay stored: say how far it got, and that
		// sending the file again is safe (stored rows come back as duplicates).
		status, code, msg, details := adminAnswer(r, ingestErr)
		writeJSON(w, status, failure(map[string]any{"code": code, "details": details,
			"message": fmt.Sprintf("%s; %d rows were stored before it: sending the file again is safe", msg, sum.Accepted)}))
		return
	}
	if streamErr != nil {
		// Rows before the break are stored and counted; say where reading stopped.
		msg := fmt.Sprintf("reading stopped after row %d: %v", row, streamErr)
		writeJSON(w, http.StatusBadRequest, failure(map[string]any{"code": "invalid", "message": msg,
			"details": []vsrp.FieldError{{Field: "body", Reason: msg}}}))
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// maxEchoedID bounds the transactionId that the answer repeats for a rejected row (a valid
// one has at most 128 bytes): 10,000 rejected rows of 64 KiB ids would make an answer of 640 MB.
const maxEchoedID = 128

// clip cuts s to at most n bytes, on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// jsonSource reads a JSON array of transactions. A row that is JSON but not a transaction is
// rejected on its own; broken JSON ends the stream (nothing after it can be told apart), and
// so does a row longer than maxJSONRow: the decoder holds a whole element in memory.
type jsonSource struct {
	dec  *json.Decoder
	body *rowBound
}

func newJSONArraySource(body io.Reader) (*jsonSource, error) {
	bound := &rowBound{r: bufio.NewReaderSize(body, 1<<16)}
	dec := json.NewDecoder(bound)
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, errors.New("want a JSON array of transactions (or NDJSON with Content-Type application/x-ndjson, or text/csv)")
	}
	return &jsonSource{dec: dec, body: bound}, nil
}

// rowBound fails a read that would take the decoder more than maxJSONRow (and a buffer's
// worth of read-ahead) past the start of the current row.
type rowBound struct {
	r          io.Reader
	read, from int64 // bytes read; where the current row starts
}

func (b *rowBound) Read(p []byte) (int, error) {
	if b.read-b.from > maxJSONRow+64<<10 {
		return 0, fmt.Errorf("a row longer than %d KiB", maxJSONRow>>10)
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// errArrayNotClosed ends a JSON array body that ends before its closing bracket: a file cut
// short at a row's end is not a whole file (the decoder answers io.EOF, the end of a body).
var errArrayNotClosed = errors.New("the body ends inside the JSON array, before its closing ]: is the file cut short?")

func (s *jsonSource) next() (platform.TxnInput, string, error) {
	if !s.dec.More() {
		if _, err := s.dec.Token(); err == io.EOF { // the closing bracket
			return platform.TxnInput{}, "", errArrayNotClosed
		} else if err != nil {
			return platform.TxnInput{}, "", err
		}
		if _, err := s.dec.Token(); err != io.EOF {
			return platform.TxnInput{}, "", errors.New("unexpected data after the array")
		}
		return platform.TxnInput{}, "", io.EOF
	}
	s.body.from = s.dec.InputOffset()
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err == io.EOF { // after a comma
		return platform.TxnInput{}, "", errArrayNotClosed
	} else if err != nil {
		return platform.TxnInput{}, "", err
	}
	in, reason := decodeRow(raw)
	return in, reason, nil
}

// maxJSONRow bounds one NDJSON line.
const maxJSONRow = 64 << 10

// ndjsonSource reads one transaction per line; a line that is not one (broken JSON included)
// is rejected on its own and reading goes on with the next line. Blank lines are skipped.
type ndjsonSource struct {
	r *bufio.Reader
}

func (s *ndjsonSource) next() (platform.TxnInput, string, error) {
	for {
		line, err := s.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			for err == bufio.ErrBufferFull { // skip the rest of the line
				_, err = s.r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return platform.TxnInput{}, "", err
			}
			return platform.TxnInput{}, fmt.Sprintf("line longer than %d KiB", maxJSONRow>>10), nil
		}
		if err != nil && err != io.EOF {
			return platform.TxnInput{}, "", err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				return platform.TxnInput{}, "", io.EOF
			}
			continue
		}
		in, reason := decodeRow(line)
		return in, reason, nil
	}
}

// decodeRow reads one JSON transaction, or says why it cannot (with the row's transactionId
// when that much can be read).
func decodeRow(raw []byte) (platform.TxnInput, string) {
	var in platform.TxnInput
	err := json.Unmarshal(raw, &in)
	if err == nil && !utf8.Valid(raw) {
		// The decoder puts U+FFFD in place of each bad byte: a GBK or Latin-1 file would be
		// stored with its names lost, and ids that differ in those bytes would become one.
		err = errors.New("not UTF-8 text")
	}
	if err != nil {
		var id struct {
			TransactionID string `json:"transactionId"`
		}
		_ = json.Unmarshal(raw, &id)
		in = platform.TxnInput{TransactionID: id.TransactionID}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) { // every field but amount is text; amount reads numbers and text itself
			return in, fmt.Sprintf("unreadable row: %s must be a JSON string, not a %s", te.Field, te.Value)
		}
		// The error may quote the value (an amount that is not a number): a card number in the
		// wrong field is never shown back.
		return in, "unreadable row: " + vsrp.MaskDigits(strings.TrimPrefix(err.Error(), "json: "), 12)
	}
	return in, ""
}

// csvSource reads CSV records one at a time. A record ends at a newline outside quotes, so a
// quoted field may span lines; but a record whose quotes do not close within maxCSVRecord bytes,
// or that the CSV reader cannot read, is rejected as its first line alone, and reading resumes
// at the line after it: a stray quote costs one row, never the rest of the file.
type csvSource struct {
	lines   *bufio.Reader
	pending [][]byte // lines read ahead while looking for the end of a record, not yet used
	header  []string
	idAt    int // the transactionId column, -1 when there is none
}

// maxCSVRecord bounds one CSV record (and one line).
const maxCSVRecord = 64 << 10

var csvFields = map[string]func(in *platform.TxnInput, v string){
	"transactionId":         func(in *platform.TxnInput, v string) { in.TransactionID = v },
	"type":                  func(in *platform.TxnInput, v string) { in.Type = v },
	"originalTransactionId": func(in *platform.TxnInput, v string) { in.OriginalTransactionID = v },
	"cardId":                func(in *platform.TxnInput, v string) { in.CardID = v },
	"pan":                   func(in *platform.TxnInput, v string) { in.PAN = v },
	"amount":                func(in *platform.TxnInput, v string) { in.Amount = vsrp.Decimal(strings.TrimSpace(v)) },
	"currency":              func(in *platform.TxnInput, v string) { in.Currency = v },
	"transactionTime":       func(in *platform.TxnInput, v string) { in.TransactionTime = v },
	"merchantId":            func(in *platform.TxnInput, v string) { in.MerchantID = v },
	"merchantName":          func(in *platform.TxnInput, v string) { in.MerchantName = v },
	"mcc":                   func(in *platform.TxnInput, v string) { in.MCC = v },
	"merchantCountry":       func(in *platform.TxnInput, v string) { in.MerchantCountry = v },
}

func newCSVSource(body io.Reader) (*csvSource, error) {
	s := &csvSource{lines: bufio.NewReaderSize(body, maxCSVRecord), idAt: -1}
	var header []string
	for header == nil {
		rec, reason, err := s.record()
		if err != nil || reason != "" {
			return nil, errors.New("a CSV header row of field names is required")
		}
		header = rec
	}
	s.header = make([]string, len(header))
	for i, name := range header {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		if _, ok := csvFields[name]; !ok {
			// A file without its header row has data here, maybe a card number: never shown back.
			return nil, fmt.Errorf("unknown CSV column %q", vsrp.MaskDigits(name, 12))
		}
		if slices.Contains(s.header[:i], name) { // which of the two values counts would be a guess
			return nil, fmt.Errorf("CSV column %q appears more than once", name)
		}
		s.header[i] = name
		if name == "transactionId" {
			s.idAt = i
		}
	}
	// Without one of these every row would be rejected for it: say so once.
	var missing []string
	for _, name := range []string{"transactionId", "type", "amount", "currency", "transactionTime", "mcc"} {
		if !slices.Contains(s.header, name) {
			missing = append(missing, name)
		}
	}
	if !slices.Contains(s.header, "cardId") && !slices.Contains(s.header, "pan") {
		missing = append(missing, "cardId or pan")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the CSV header has no column %s", strings.Join(missing, ", "))
	}
	return s, nil
}

func (s *csvSource) next() (platform.TxnInput, string, error) {
	var in platform.TxnInput
	for {
		rec, reason, err := s.record()
		if err != nil || reason != "" {
			return in, reason, err
		}
		if rec == nil || !slices.ContainsFunc(rec, func(v string) bool { return strings.TrimSpace(v) != "" }) {
			continue // a blank line, or a row of empty fields (a spreadsheet's empty rows: ",,,,")
		}
		if s.idAt >= 0 && s.idAt < len(rec) {
			in.TransactionID = rec[s.idAt]
		}
		if len(rec) != len(s.header) {
			return in, fmt.Sprintf("%d fields, want %d", len(rec), len(s.header)), nil
		}
		for i, v := range rec {
			csvFields[s.header[i]](&in, v)
		}
		return in, "", nil
	}
}

// record answers the next record's fields (nil for a blank line), or the reason it cannot be
// read; io.EOF at the end.
func (s *csvSource) record() ([]string, string, error) {
	first, err := s.line()
	if err != nil {
		return nil, "", err
	}
	if first == nil {
		return nil, fmt.Sprintf("unreadable CSV row: line longer than %d KiB", maxCSVRecord>>10), nil
	}
	if len(bytes.TrimRight(first, "\r\n")) == 0 {
		return nil, "", nil
	}
	rec := first
	var more [][]byte // the lines after the first that the record took
	for bytes.Count(rec, []byte{'"'})%2 == 1 && len(rec) <= maxCSVRecord {
		l, err := s.line()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		if l == nil { // a line too long to be part of a row: a row of its own, rejected in turn
			s.pending = append([][]byte{nil}, s.pending...)
			break
		}
		more = append(more, l)
		rec = append(slices.Clip(rec), l...)
	}
	fields, perr := readCSVRecord(rec)
	switch {
	case perr == nil && (len(more) == 0 || len(fields) == len(s.header) || s.header == nil):
		return fields, "", nil
	case len(more) > 0:
		// The quote that opened the record never closed where a whole row would end: the first
		// line is the bad row, the lines after it are rows of their own.
		s.pending = append(more, s.pending...)
		return nil, "unreadable CSV row: a quoted field is not closed", nil
	default:
		return nil, "unreadable CSV row: " + perr.Error(), nil
	}
}

// line answers the next line (with its newline), from the lines read ahead first; nil for a
// line longer than maxCSVRecord (skipped); io.EOF at the end.
func (s *csvSource) line() ([]byte, error) {
	if len(s.pending) > 0 {
		l := s.pending[0]
		s.pending = s.pending[1:]
		return l, nil
	}
	l, err := s.lines.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = s.lines.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, nil
	}
	if err == io.EOF && len(l) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.Clone(l), nil
}

// readCSVRecord reads one record from its bytes.
func readCSVRecord(b []byte) ([]string, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	if _, err := r.Read(); err != io.EOF {
		return nil, errors.New("more than one record on the line")
	}
	return rec, nil
}
