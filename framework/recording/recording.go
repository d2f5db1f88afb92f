// Package recording reads the files in which gadgets' events are recorded:
// one JSON array of events (gadget run -o json) or one JSON object per line
// (gadget run -o jsonl, kubectl gadget network-graph record).
//
// Read streams: it holds one event at a time, never the file, so a
// recording of any size is read in memory bounded by MaxEventSize. It knows
// nothing of any gadget; the caller decodes each event into its gadget's
// type.
package recording

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxEventSize bounds the size of one event in bytes (16 MiB): a larger
// object is not an event of a recording, and holding it would let one bad
// line take any amount of memory.
const MaxEventSize = 16 << 20

// chunkSize is how much Read reads at once.
const chunkSize = 256 << 10

// Read calls fn for every event of r, in order, with the line the event
// starts on (the first line is 1) and the event's bytes, one JSON object
// checked to be valid JSON. The bytes are only valid until fn returns.
//
// r holds either one JSON array of objects or any number of JSON objects
// separated by white space (JSON lines); empty input has no events. Read
// costs one pass over r plus a validity check of each event. Its errors
// start with the line they are about ("line 12: ..."): an event that is
// not valid JSON, not a JSON object or larger than MaxEventSize, input cut
// off inside an event or the array, text after the array, and every error
// fn returns, which ends the read. An error of r itself is wrapped as is.
func Read(r io.Reader, fn func(line int, event []byte) error) error {
	s := scanner{line: 1, fn: fn}
	chunk := make([]byte, chunkSize)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			if ferr := s.feed(chunk[:n]); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return s.end()
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
}

// state is where the scanner is in the input.
type state int

const (
	stStart      state = iota // nothing but white space so far
	stLines                   // between the objects of JSON lines
	stArrayOpen               // after "[": an object or "]" comes
	stArrayNext               // after an element: "," or "]" comes
	stArrayElem               // after ",": an object comes
	stArrayEnded              // after "]": only white space may follow
	stObject                  // inside an object
)

// scanner splits the input into its top-level objects, tracking strings
// and nesting so that braces in strings do not count, and lines so that
// errors name them.
type scanner struct {
	fn    func(line int, event []byte) error
	state state
	// inArray is set once the input turned out to be a JSON array.
	inArray bool
	line    int

	// The object being read: its bytes, the line it started on, its
	// nesting depth and whether the scan is in a string (after a
	// backslash).
	obj     []byte
	objLine int
	depth   int
	inStr   bool
	esc     bool
	// elems counts the array's elements, for errors.
	elems int
}

func (s *scanner) feed(p []byte) error {
	for i := 0; i < len(p); i++ {
		if s.state == stObject {
			start := i
			done := false
			for ; i < len(p); i++ {
				c := p[i]
				if c == '\n' {
					s.line++
				}
				if s.inStr {
					switch {
					case s.esc:
						s.esc = false
					case c == '\\':
						s.esc = true
					case c == '"':
						s.inStr = false
					}
					continue
				}
				switch c {
				case '"':
					s.inStr = true
				case '{', '[':
					s.depth++
				case '}', ']':
					s.depth--
				}
				if s.depth == 0 {
					done = true
					break
				}
			}
			if !done {
				s.obj = append(s.obj, p[start:]...)
				if len(s.obj) > MaxEventSize {
					return fmt.Errorf("line %d: an event larger than %d MiB: this is not a recording of events", s.objLine, MaxEventSize>>20)
				}
				return nil
			}
			s.obj = append(s.obj, p[start:i+1]...)
			if err := s.emit(); err != nil {
				return err
			}
			continue
		}
		c := p[i]
		switch c {
		case ' ', '\t', '\r':
			continue
		case '\n':
			s.line++
			continue
		}
		switch s.state {
		case stStart:
			if c == '[' {
				s.state, s.inArray = stArrayOpen, true
				continue
			}
			if c != '{' {
				return fmt.Errorf("line %d: found %q: want a JSON array of events or one JSON object (event) per line", s.line, c)
			}
			s.begin()
		case stLines:
			if c != '{' {
				return fmt.Errorf("line %d: found %q: want one JSON object (event) per line", s.line, c)
			}
			s.begin()
		case stArrayOpen, stArrayElem:
			if c == ']' && s.state == stArrayOpen {
				s.state = stArrayEnded
				continue
			}
			if c != '{' {
				return fmt.Errorf("line %d: element %d of the array: found %q: want a JSON object (event)", s.line, s.elems+1, c)
			}
			s.begin()
		case stArrayNext:
			switch c {
			case ',':
				s.state = stArrayElem
			case ']':
				s.state = stArrayEnded
			default:
				return fmt.Errorf("line %d: found %q after element %d of the array: want \",\" or \"]\"", s.line, c, s.elems)
			}
			continue
		case stArrayEnded:
			return fmt.Errorf("line %d: found %q after the end of the JSON array: a recording holds one array", s.line, c)
		}
		// c is the "{" of a new object: scan it from there.
		i--
	}
	return nil
}

// begin starts an object on the current line.
func (s *scanner) begin() {
	s.state, s.objLine, s.depth, s.inStr, s.esc = stObject, s.line, 0, false, false
	s.obj = s.obj[:0]
}

// emit checks the object just read and hands it to fn.
func (s *scanner) emit() error {
	if len(s.obj) > MaxEventSize {
		return fmt.Errorf("line %d: an event larger than %d MiB: this is not a recording of events", s.objLine, MaxEventSize>>20)
	}
	if !json.Valid(s.obj) {
		return s.invalid()
	}
	s.elems++
	s.state = stLines
	if s.inArray {
		s.state = stArrayNext
	}
	if err := s.fn(s.objLine, s.obj); err != nil {
		return fmt.Errorf("line %d: %w", s.objLine, err)
	}
	return nil
}

// invalid describes why the object just read is not valid JSON, on the
// line where the problem is.
func (s *scanner) invalid() error {
	var v json.RawMessage
	err := json.Unmarshal(s.obj, &v)
	line := s.objLine
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset > 0 && int(syn.Offset) <= len(s.obj) {
		line += bytes.Count(s.obj[:syn.Offset-1], []byte{'\n'})
	}
	if err == nil {
		err = errors.New("invalid")
	}
	return fmt.Errorf("line %d: not valid JSON: %v", line, err)
}

// end checks that the input did not stop half way.
func (s *scanner) end() error {
	switch s.state {
	case stObject:
		return fmt.Errorf("line %d: the input ends inside this event: the recording is cut off", s.objLine)
	case stArrayOpen, stArrayNext, stArrayElem:
		return fmt.Errorf("line %d: the input ends inside the JSON array (no closing \"]\"): the recording is cut off", s.line)
	}
	return nil
}
