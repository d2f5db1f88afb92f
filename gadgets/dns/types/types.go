// Package types defines the events of the dns gadget: one Event is one DNS
// transaction seen in a watched pod — a query and its response matched by
// ID and addresses, a query that got no response in time, or a response
// whose query was not seen.
package types

import (
	"time"

	"github.com/gadgetkit/gadget/framework/eventtypes"
)

// Event is one DNS transaction, as seen from one watched pod (the client
// or the server of the query).
type Event struct {
	eventtypes.Event

	// Time is when the query was seen (for StatusUnmatched, the response).
	Time time.Time `json:"time,omitzero"`
	// Status is StatusAnswered, StatusUnanswered or StatusUnmatched.
	Status string `json:"status,omitempty"`

	// Proto is udp or tcp.
	Proto string `json:"proto,omitempty"`
	// Client and ClientPort are the address and port the query came from.
	Client     string `json:"client,omitempty"`
	ClientPort int    `json:"clientPort,omitempty"`
	// Server and ServerPort are the address and port the query went to.
	Server     string `json:"server,omitempty"`
	ServerPort int    `json:"serverPort,omitempty"`

	// ID is the DNS message ID shared by the query and its response.
	ID uint16 `json:"id"`
	// Name is the queried name, without the final dot, e.g.
	// "api.example.org"; QType its type, e.g. "A" or "AAAA".
	Name  string `json:"name,omitempty"`
	QType string `json:"qtype,omitempty"`

	// RCode is the response code, e.g. "NOERROR" or "NXDOMAIN"; empty
	// without a response.
	RCode string `json:"rcode,omitempty"`
	// Answers are the response's A, AAAA and CNAME records, in the order
	// of the response (the CNAME chain first, as servers send it). Other
	// record types are counted in OtherAnswers.
	Answers      []Answer `json:"answers,omitempty"`
	OtherAnswers int      `json:"otherAnswers,omitempty"`
	// Truncated is set when the response has the TC bit, or when the
	// packet was longer than what the gadget captures (512 bytes of
	// message): the answers are those that fit.
	Truncated bool `json:"truncated,omitempty"`

	// LatencyNs is the time from the query to the response, in
	// nanoseconds; 0 without both.
	LatencyNs int64 `json:"latencyNs,omitempty"`
}

// Values of Event.Status.
const (
	// StatusAnswered is a query with its response.
	StatusAnswered = "answered"
	// StatusUnanswered is a query without a response within the gadget's
	// timeout (or before the trace stopped).
	StatusUnanswered = "unanswered"
	// StatusUnmatched is a response whose query was not seen, e.g. sent
	// before the trace started.
	StatusUnmatched = "unmatched"
)

// Answer is one resource record of a response.
type Answer struct {
	// Name is the record's owner name, without the final dot.
	Name string `json:"name"`
	// Type is A, AAAA or CNAME.
	Type string `json:"type"`
	// TTL is the record's time to live in seconds.
	TTL uint32 `json:"ttl"`
	// Data is the address (A, AAAA) or the canonical name (CNAME, without
	// the final dot).
	Data string `json:"data"`
}

// Latency returns LatencyNs as a duration.
func (e Event) Latency() time.Duration { return time.Duration(e.LatencyNs) }
