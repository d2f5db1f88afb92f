package dns

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gadgetkit/gadget/gadgets/dns/types"
)

// buildMessage returns a DNS message: a query for name/qtype, or with
// answers a response carrying them.
func buildMessage(t testing.TB, id uint16, response bool, rcode dnsmessage.RCode, name string, qtype dnsmessage.Type, answers ...dnsmessage.Resource) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: response, RCode: rcode, RecursionDesired: true})
	b.EnableCompression()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.StartQuestions())
	must(b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET}))
	must(b.StartAnswers())
	for _, a := range answers {
		switch body := a.Body.(type) {
		case *dnsmessage.AResource:
			must(b.AResource(a.Header, *body))
		case *dnsmessage.AAAAResource:
			must(b.AAAAResource(a.Header, *body))
		case *dnsmessage.CNAMEResource:
			must(b.CNAMEResource(a.Header, *body))
		case *dnsmessage.TXTResource:
			must(b.TXTResource(a.Header, *body))
		default:
			t.Fatalf("unsupported answer %T", body)
		}
	}
	msg, err := b.Finish()
	must(err)
	return msg
}

func rr(name string, ttl uint32, body dnsmessage.ResourceBody) dnsmessage.Resource {
	return dnsmessage.Resource{Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Class: dnsmessage.ClassINET, TTL: ttl}, Body: body}
}

// tcpForm prefixes msg with its 2-byte length, as DNS over TCP sends it.
func tcpForm(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

func TestParsePayload(t *testing.T) {
	query := buildMessage(t, 0x1234, false, 0, "web.example.org.", dnsmessage.TypeA)
	resp := buildMessage(t, 0x1234, true, dnsmessage.RCodeSuccess, "web.example.org.", dnsmessage.TypeA,
		rr("web.example.org.", 2, &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("srv.example.org.")}),
		rr("srv.example.org.", 2, &dnsmessage.AResource{A: [4]byte{10, 0, 0, 2}}),
		rr("srv.example.org.", 3, &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("fd00::2").As16()}),
		rr("srv.example.org.", 4, &dnsmessage.TXTResource{TXT: []string{"hello"}}))
	nx := buildMessage(t, 7, true, dnsmessage.RCodeNameError, "nope.example.org.", dnsmessage.TypeAAAA)
	wantAnswers := []types.Answer{
		{Name: "web.example.org", Type: "CNAME", TTL: 2, Data: "srv.example.org"},
		{Name: "srv.example.org", Type: "A", TTL: 2, Data: "10.0.0.2"},
		{Name: "srv.example.org", Type: "AAAA", TTL: 3, Data: "fd00::2"},
	}
	tests := []struct {
		name    string
		payload []byte
		tcp     bool
		cut     bool
		want    message
		wantErr bool
	}{
		{name: "udp query", payload: query,
			want: message{id: 0x1234, name: "web.example.org", qtype: dnsmessage.TypeA, hasQuestion: true}},
		{name: "tcp query", payload: tcpForm(query), tcp: true,
			want: message{id: 0x1234, name: "web.example.org", qtype: dnsmessage.TypeA, hasQuestion: true}},
		{name: "response", payload: resp,
			want: message{id: 0x1234, response: true, name: "web.example.org", qtype: dnsmessage.TypeA, hasQuestion: true, answers: wantAnswers, other: 1}},
		{name: "tcp response with a second message after it", payload: append(tcpForm(resp), tcpForm(nx)...), tcp: true,
			want: message{id: 0x1234, response: true, name: "web.example.org", qtype: dnsmessage.TypeA, hasQuestion: true, answers: wantAnswers, other: 1}},
		{name: "nxdomain", payload: nx,
			want: message{id: 7, response: true, rcode: dnsmessage.RCodeNameError, name: "nope.example.org", qtype: dnsmessage.TypeAAAA, hasQuestion: true}},
		{name: "response cut by the capture", payload: resp[:len(resp)-10], cut: true,
			want: message{id: 0x1234, response: true, name: "web.example.org", qtype: dnsmessage.TypeA, hasQuestion: true, answers: wantAnswers, truncated: true}},
		{name: "tcp response longer than the segment", payload: tcpForm(resp)[:len(resp)-10], tcp: true,
			want: message{id: 0x1234, response: true, name: "web.example.org", qtype: dnsmessage.TypeA, hasQuestion: true, answers: wantAnswers, truncated: true}},
		{name: "empty", payload: nil, wantErr: true},
		{name: "short header", payload: query[:5], wantErr: true},
		{name: "tcp without prefix", payload: []byte{0}, tcp: true, wantErr: true},
		{name: "tcp prefix too small", payload: []byte{0, 3, 1, 2, 3}, tcp: true, wantErr: true},
		{name: "garbage question", payload: append(append([]byte{}, query[:12]...), 0xff, 0xff, 0xff), wantErr: true},
		{name: "damaged answers", payload: resp[:len(resp)-10], wantErr: true,
			want: message{id: 0x1234, response: true, name: "web.example.org", qtype: dnsmessage.TypeA, hasQuestion: true, answers: wantAnswers, damaged: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePayload(tt.payload, tt.tcp, tt.cut)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errMalformed) {
				t.Errorf("err = %v, want it to wrap errMalformed", err)
			}
			if err != nil && !tt.want.damaged {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// hostile returns messages built by hand that a well-behaved server never
// sends.
func hostile() map[string][]byte {
	header := func(qd, an uint16) []byte {
		h := []byte{0xab, 0xcd, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(h[4:], qd)
		binary.BigEndian.PutUint16(h[6:], an)
		return h
	}
	q := []byte{3, 'w', 'w', 'w', 0, 0, 1, 0, 1}
	return map[string][]byte{
		// A name that points at itself.
		"compression loop": append(header(1, 0), 0xc0, 12, 0, 1, 0, 1),
		// Two names pointing at each other.
		"pointer ping-pong": append(append(header(1, 1), q...), 0xc0, 23, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0xc0, 21),
		// 65535 answers announced, none there.
		"huge counts": append(header(65535, 65535), q...),
		// A label longer than 63 bytes.
		"long label": append(header(1, 0), append([]byte{100}, make([]byte, 100)...)...),
		// Control characters and a backslash in a name.
		"control characters": append(header(1, 0), 4, 0x1b, '[', '2', '\\', 0, 0, 1, 0, 1),
	}
}

func TestParseHostile(t *testing.T) {
	for name, msg := range hostile() {
		t.Run(name, func(t *testing.T) {
			m, err := parsePayload(msg, false, false)
			t.Logf("%+v, %v", m, err)
			if name == "control characters" {
				if err != nil || m.name != `\027[2\092` {
					t.Errorf("name = %q, %v; want it escaped", m.name, err)
				}
				return
			}
			if err == nil && name != "huge counts" {
				t.Errorf("parsed %+v, want an error", m)
			}
		})
	}
}

func TestParseAllocations(t *testing.T) {
	msg := hostile()["huge counts"]
	allocs := testing.AllocsPerRun(100, func() { _, _ = parsePayload(msg, false, false) })
	if allocs > 8 {
		t.Errorf("%v allocations per parse of a message announcing 65535 answers, want a few", allocs)
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add(buildMessage(f, 1, false, 0, "a.example.", dnsmessage.TypeA), false, false)
	f.Add(tcpForm(buildMessage(f, 2, true, 0, "b.example.", dnsmessage.TypeAAAA,
		rr("b.example.", 5, &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("fd00::1").As16()}))), true, false)
	f.Add(buildMessage(f, 3, true, 0, "c.example.", dnsmessage.TypeA,
		rr("c.example.", 5, &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("d.example.")}),
		rr("d.example.", 5, &dnsmessage.AResource{A: [4]byte{1, 2, 3, 4}})), false, true)
	for _, m := range hostile() {
		f.Add(m, false, false)
	}
	f.Fuzz(func(t *testing.T, payload []byte, tcp, cut bool) {
		if len(payload) > 514 {
			payload = payload[:514] // what the kernel captures at most
		}
		m, err := parsePayload(payload, tcp, cut)
		if err != nil && !errors.Is(err, errMalformed) {
			t.Fatalf("error %v does not wrap errMalformed", err)
		}
		if len(m.answers) > maxAnswers {
			t.Fatalf("%d answers kept, want at most %d", len(m.answers), maxAnswers)
		}
		for _, s := range append([]string{m.name}, answerStrings(m.answers)...) {
			for _, c := range []byte(s) {
				if c < 0x20 || c > 0x7e {
					t.Fatalf("unescaped byte %#x in %q", c, s)
				}
			}
		}
		// The tracker takes whatever the parser gives it.
		tr := newTracker(time.Second, 4, func(int64) time.Time { return time.Time{} })
		tr.handle(packet{tag: 1, payload: payload, tcp: tcp, cut: cut})
		tr.expire(int64(time.Hour))
	})
}

func answerStrings(as []types.Answer) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name, a.Data, a.Type)
	}
	return out
}
