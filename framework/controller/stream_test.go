package controller

import (
	"encoding/json"
	"testing"
)

func TestStreamKeepsLatest(t *testing.T) {
	s := newStream(3)
	_, next := s.since(0)
	for i := 1; i <= 5; i++ {
		if err := s.add([]int{i}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-next:
	default:
		t.Fatal("the next channel was not closed by a new batch")
	}
	got, _ := s.since(0)
	if len(got) != 3 {
		t.Fatalf("kept %d batches, want 3", len(got))
	}
	for i, b := range got {
		wantSeq := uint64(i + 3)
		var data []int
		if err := json.Unmarshal(b.Data, &data); err != nil {
			t.Fatal(err)
		}
		if b.Seq != wantSeq || len(data) != 1 || data[0] != int(wantSeq) {
			t.Errorf("batch %d = seq %d data %s, want seq %d data [%d]", i, b.Seq, b.Data, wantSeq, wantSeq)
		}
	}
	if got, _ := s.since(4); len(got) != 1 || got[0].Seq != 5 {
		t.Errorf("since(4) = %v, want only seq 5", got)
	}
	if err := s.add(func() {}); err == nil {
		t.Error("add of an unencodable batch: no error")
	}
	_, next = s.since(5)
	s.end()
	s.end()
	select {
	case <-next:
	default:
		t.Fatal("end did not close the next channel")
	}
}
