package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gadgetkit/gadget/gadgets/dns/types"
)

// maxAnswers bounds the answers kept of one response; the rest are
// counted in OtherAnswers. A captured message is at most 512 bytes, so a
// response holds at most 46 records anyway.
const maxAnswers = 32

// errMalformed is wrapped by parseMessage's errors: the bytes are not a DNS
// message, or not one the gadget can read.
var errMalformed = errors.New("malformed DNS message")

// message is what the gadget keeps of one DNS message.
type message struct {
	id       uint16
	response bool
	rcode    dnsmessage.RCode
	// name and qtype are the first question's; hasQuestion tells whether
	// there was one.
	name        string
	qtype       dnsmessage.Type
	hasQuestion bool
	answers     []types.Answer
	other       int
	// truncated: the TC bit, or the message did not fit in the capture.
	truncated bool
	// damaged: the answers could not all be read though the message was
	// captured whole; the header and question were read.
	damaged bool
}

// parsePayload reads the DNS message in a packet's captured payload. For
// TCP, payload starts with the 2-byte length prefix. cut tells that the
// packet's payload was longer than what was captured. It allocates at most
// the name strings of the question and of maxAnswers answers.
func parsePayload(payload []byte, tcp, cut bool) (message, error) {
	b := payload
	if tcp {
		if len(b) < 2 {
			return message{}, fmt.Errorf("%w: TCP payload of %d bytes has no length prefix", errMalformed, len(b))
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		switch {
		case n < 12:
			return message{}, fmt.Errorf("%w: TCP length prefix %d is shorter than a DNS header", errMalformed, n)
		case len(b) > n:
			b = b[:n] // a second message follows in the segment
		case len(b) < n:
			cut = true
		}
	}
	return parseMessage(b, cut)
}

// parseMessage reads one DNS message; cut tells that b is only its start.
func parseMessage(b []byte, cut bool) (message, error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return message{}, fmt.Errorf("%w: header: %v", errMalformed, err)
	}
	m := message{id: h.ID, response: h.Response, rcode: h.RCode, truncated: h.Truncated || cut}
	q, err := p.Question()
	switch {
	case errors.Is(err, dnsmessage.ErrSectionDone):
	case err != nil:
		return message{}, fmt.Errorf("%w: question: %v", errMalformed, err)
	default:
		m.hasQuestion = true
		m.name = nameString(q.Name)
		m.qtype = q.Type
	}
	if !m.response {
		if !m.hasQuestion {
			return message{}, fmt.Errorf("%w: a query without a question", errMalformed)
		}
		return m, nil
	}
	if err := p.SkipAllQuestions(); err != nil {
		return m.partial(cut, err)
	}
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return m, nil
		}
		if err != nil {
			return m.partial(cut, err)
		}
		a := types.Answer{Name: nameString(rh.Name), Type: typeString(rh.Type), TTL: rh.TTL}
		keep := len(m.answers) < maxAnswers
		switch {
		case rh.Type == dnsmessage.TypeA && keep:
			r, err := p.AResource()
			if err != nil {
				return m.partial(cut, err)
			}
			a.Data = fmt.Sprintf("%d.%d.%d.%d", r.A[0], r.A[1], r.A[2], r.A[3])
		case rh.Type == dnsmessage.TypeAAAA && keep:
			r, err := p.AAAAResource()
			if err != nil {
				return m.partial(cut, err)
			}
			a.Data = ip6String(r.AAAA)
		case rh.Type == dnsmessage.TypeCNAME && keep:
			r, err := p.CNAMEResource()
			if err != nil {
				return m.partial(cut, err)
			}
			a.Data = nameString(r.CNAME)
		default:
			if err := p.SkipAnswer(); err != nil {
				return m.partial(cut, err)
			}
			m.other++
			continue
		}
		m.answers = append(m.answers, a)
	}
}

// partial returns what was read of a response whose answers end early:
// as truncated when the capture cut it, as damaged (and the error) when
// the message itself is broken.
func (m message) partial(cut bool, err error) (message, error) {
	if cut {
		m.truncated = true
		return m, nil
	}
	m.damaged = true
	return m, fmt.Errorf("%w: answers: %v", errMalformed, err)
}

// nameString renders a name without its final dot; bytes that are not
// printable ASCII, and backslashes, are escaped as \DDD (decimal), so a
// hostile name cannot reach a terminal as control characters.
func nameString(n dnsmessage.Name) string {
	data := n.Data[:min(int(n.Length), len(n.Data))]
	if len(data) > 1 && data[len(data)-1] == '.' {
		data = data[:len(data)-1]
	}
	clean := true
	for _, c := range data {
		if c < 0x21 || c > 0x7e || c == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return string(data)
	}
	var sb strings.Builder
	for _, c := range data {
		if c < 0x21 || c > 0x7e || c == '\\' {
			fmt.Fprintf(&sb, "\\%03d", c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// ip6String renders an IPv6 address in its canonical form (RFC 5952).
func ip6String(a [16]byte) string {
	return netip.AddrFrom16(a).String()
}

var typeNames = map[dnsmessage.Type]string{
	dnsmessage.TypeA: "A", dnsmessage.TypeNS: "NS", dnsmessage.TypeCNAME: "CNAME", dnsmessage.TypeSOA: "SOA",
	dnsmessage.TypePTR: "PTR", dnsmessage.TypeMX: "MX", dnsmessage.TypeTXT: "TXT", dnsmessage.TypeAAAA: "AAAA",
	dnsmessage.TypeSRV: "SRV", dnsmessage.TypeOPT: "OPT", dnsmessage.TypeSVCB: "SVCB", dnsmessage.TypeHTTPS: "HTTPS",
	dnsmessage.TypeALL: "ANY",
}

// typeString is a record type as in zone files: A, AAAA, or TYPE65280.
func typeString(t dnsmessage.Type) string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// rcodeString is a response code as dig shows it: NOERROR, NXDOMAIN, …
func rcodeString(r dnsmessage.RCode) string {
	if int(r) < len(rcodeNames) {
		return rcodeNames[r]
	}
	return "RCODE" + strconv.Itoa(int(r))
}
