// Package vsrp holds the domain types of the VSRP card-linked rewards platform, the service
// interfaces that the HTTP layer calls, and the one error type whose codes are the contract's
// status code table. Implementations live in packages named for what they provide: store
// (SQLite and PostgreSQL), envelope (payload encryption), httpapi (the App and admin APIs).
package vsrp

import (
	"errors"
	"fmt"
)

// Code is a status code of the contract's table (section 3). Codes never change with language.
type Code int

// The contract's status codes.
const (
	OK                 Code = 0
	CodeNotClaimable   Code = 1
	CodeMalformed      Code = 1001
	CodeMissingParam   Code = 1002
	CodeInvalidParam   Code = 1003
	CodeTooLarge       Code = 1004
	CodeUnknownAPI     Code = 1005
	CodeBadCredentials Code = 2001
	CodeTokenInvalid   Code = 2002
	CodeTokenExpired   Code = 2003
	CodeRefreshInvalid Code = 2004
	CodeRefreshExpired Code = 2005
	CodeIPDenied       Code = 2006
	CodeForbidden      Code = 2007
	CodeAppDisabled    Code = 2008
	CodeDecrypt        Code = 2009
	CodeAppMismatch    Code = 2010
	CodeRateLimited    Code = 2011
	CodeReplay         Code = 2012
	CodeVuidNotFound   Code = 3001
	CodeCardInvalid    Code = 3002
	CodeCardNoBIN      Code = 3003
	CodeCardBound      Code = 3004
	CodeCardNotFound   Code = 3005
	CodeGroupNotFound  Code = 3006
	CodeGroupClosed    Code = 3007
	CodeNotEligible    Code = 3008
	CodeExtDataInvalid Code = 3009
	CodeGroupFull      Code = 3010
	CodeCampaignNone   Code = 3011
	CodeRewardNotFound Code = 3012
	CodeStatusChange   Code = 3013
	CodeAuidInvalid    Code = 3014
	CodeInternal       Code = 5000
	CodeUnavailable    Code = 5001
)

// Error is the application error: a contract code and, optionally, a detail that is safe to
// show to the caller (it never holds card numbers, secrets or whether another app's object
// exists). Internal causes are kept in Err for the server log only.
type Error struct {
	Code   Code
	Detail string // optional extra words for the caller, English
	Err    error  // cause, logged, never shown
}

func (e *Error) Error() string {
	s := fmt.Sprintf("vsrp %d", e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a caller-safe detail.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// E returns an *Error with only a code.
func E(code Code) *Error { return &Error{Code: code} }

// ErrorCode reports the contract code of err: its *Error code, 0 for nil, and 5000 for any
// other error.
func ErrorCode(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Internal wraps an unexpected error as a 5000 whose cause only reaches the log.
func Internal(err error) *Error { return &Error{Code: CodeInternal, Err: err} }

// ErrNotFound is returned by stores for a missing row; services turn it into the right code.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by stores when a unique constraint refuses a write.
var ErrConflict = errors.New("conflict")

// FieldError is one problem of an admin request, named by its field path
// (for example "offers[0].match.mcc[1]").
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every problem found in an admin request, not just the first.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	s := "invalid request"
	for i, p := range e.Problems {
		if i == 0 {
			s += ": "
		} else {
			s += "; "
		}
		s += p.Field + ": " + p.Reason
	}
	return s
}

// Add records a problem.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds problems, else nil.
func (e *ValidationError) Err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}
