package dnsanswer

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func query(t *testing.T, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestA(t *testing.T) {
	addr := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		name    string
		msg     []byte
		rcode   dnsmessage.RCode
		answers int
		nilResp bool
	}{
		{name: "A for the name", msg: query(t, "db.e2e.", dnsmessage.TypeA), rcode: dnsmessage.RCodeSuccess, answers: 1},
		{name: "AAAA for the name", msg: query(t, "db.e2e.", dnsmessage.TypeAAAA), rcode: dnsmessage.RCodeSuccess},
		{name: "another name", msg: query(t, "other.e2e.", dnsmessage.TypeA), rcode: dnsmessage.RCodeNameError},
		{name: "not DNS", msg: []byte("ping 1\n"), nilResp: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := A(tc.msg, "db.e2e.", addr, 2)
			if tc.nilResp {
				if resp != nil {
					t.Fatalf("response %x to a message that is not DNS", resp)
				}
				return
			}
			var m dnsmessage.Message
			if err := m.Unpack(resp); err != nil {
				t.Fatal(err)
			}
			if m.ID != 7 || !m.Response || m.RCode != tc.rcode || len(m.Answers) != tc.answers {
				t.Fatalf("id %d response %v rcode %v answers %d, want id 7, a response, %v, %d answers", m.ID, m.Response, m.RCode, len(m.Answers), tc.rcode, tc.answers)
			}
			if tc.answers == 1 {
				a, ok := m.Answers[0].Body.(*dnsmessage.AResource)
				if !ok || netip.AddrFrom4(a.A) != addr || m.Answers[0].Header.TTL != 2 {
					t.Fatalf("answer %v, want A %s TTL 2", m.Answers[0], addr)
				}
			}
		})
	}
}
