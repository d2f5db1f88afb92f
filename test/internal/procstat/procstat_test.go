package procstat

import (
	"os"
	"testing"
)

func TestRSS(t *testing.T) {
	if got := RSS(os.Getpid()); got <= 0 {
		t.Errorf("RSS of this process = %d, want > 0", got)
	}
	if got := RSS(0); got != 0 {
		t.Errorf("RSS(0) = %d, want 0", got)
	}
	if got := RSS(1 << 30); got != 0 {
		t.Errorf("RSS of a process that does not exist = %d, want 0", got)
	}
}
