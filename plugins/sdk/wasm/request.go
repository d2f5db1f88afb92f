package wasm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// decodeRequest decodes a request. The batch, by far its largest part, is
// cut out with one plain pass over the bytes and handed over as it is
// (the handler decodes it anyway); only the rest goes through
// encoding/json, whose scanner is slow in a Go WASM guest. The batch
// aliases in.
func decodeRequest(in []byte) (abi.Request, error) {
	start, end, ok := topLevelValue(in, "batch")
	if !ok {
		var req abi.Request
		err := json.Unmarshal(in, &req)
		return req, err
	}
	rest := make([]byte, 0, len(in)-(end-start)+4)
	rest = append(append(append(rest, in[:start]...), "null"...), in[end:]...)
	var req abi.Request
	if err := json.Unmarshal(rest, &req); err != nil {
		return abi.Request{}, err
	}
	req.Batch = in[start:end]
	if v := bytes.TrimSpace(req.Batch); len(v) == 0 || v[0] != '[' {
		return abi.Request{}, errors.New("the batch is not a JSON array")
	}
	return req, nil
}

// topLevelValue returns the bounds of the value of key in the JSON object
// in, when in is an object holding key at its top level.
func topLevelValue(in []byte, key string) (start, end int, ok bool) {
	depth := 0
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '"':
			j := skipString(in, i)
			if depth == 1 && j-i == len(key)+2 && string(in[i+1:j-1]) == key {
				k := j
				for k < len(in) && (in[k] == ' ' || in[k] == '\t' || in[k] == '\n' || in[k] == '\r') {
					k++
				}
				if k < len(in) && in[k] == ':' {
					k++
					for k < len(in) && (in[k] == ' ' || in[k] == '\t' || in[k] == '\n' || in[k] == '\r') {
						k++
					}
					if e, ok := lastArray(in, k); ok {
						return k, e, true
					}
					e := valueEnd(in, k)
					if e < 0 {
						return 0, 0, false
					}
					return k, e, true
				}
			}
			i = j - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return 0, 0, false
}

// lastArray returns the end of the array starting at in[i] when it is the
// last member of the object in, as the host puts the batch: in ends with
// ']' and '}' (and spaces), so the batch need not be scanned here. Were
// another array member to follow, the batch would end in garbage that its
// decoder rejects.
func lastArray(in []byte, i int) (int, bool) {
	if i >= len(in) || in[i] != '[' {
		return 0, false
	}
	e := len(bytes.TrimRight(in, " \t\r\n"))
	if e < 1 || in[e-1] != '}' {
		return 0, false
	}
	e = len(bytes.TrimRight(in[:e-1], " \t\r\n"))
	if e <= i || in[e-1] != ']' {
		return 0, false
	}
	return e, true
}

// valueEnd returns the end of the JSON value starting at in[i], or -1.
func valueEnd(in []byte, i int) int {
	if i >= len(in) {
		return -1
	}
	switch in[i] {
	case '"':
		return skipString(in, i)
	case '{', '[':
		depth := 0
		for ; i < len(in); i++ {
			switch in[i] {
			case '"':
				i = skipString(in, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(in); j++ {
		switch in[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(in)
}

// skipString returns the index after the JSON string starting at in[i].
// It jumps from quote to quote with bytes.IndexByte, which is hand-written
// WASM in the Go runtime and many times faster than a Go loop there.
func skipString(in []byte, i int) int {
	for i++; i < len(in); {
		q := bytes.IndexByte(in[i:], '"')
		if q < 0 {
			return len(in)
		}
		j := i + q
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := j - 1; k >= i && in[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
	return len(in)
}

// appendResult appends the response of a call to dst: when raw is set
// and the call succeeded, raw (abi.RawDataMark, then r.Data: no base64 to
// encode here and decode on the host), else as JSON.
func appendResult(dst []byte, r abi.Response, raw bool) []byte {
	if raw && r.Error == "" {
		return append(append(dst, abi.RawDataMark), r.Data...)
	}
	return appendResponse(dst, r)
}

// appendResponse appends r to dst encoded as encoding/json encodes it,
// without reflection. The batch goes as the handler returned it.
func appendResponse(dst []byte, r abi.Response) []byte {
	start := len(dst)
	dst = append(dst, '{')
	field := func(name string) {
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = append(append(append(dst, '"'), name...), `":`...)
	}
	if len(r.Batch) > 0 {
		field("batch")
		dst = append(dst, r.Batch...)
	}
	if len(r.Data) > 0 {
		field("data")
		dst = append(base64.StdEncoding.AppendEncode(append(dst, '"'), r.Data), '"')
	}
	if r.MediaType != "" {
		field("mediaType")
		dst = AppendString(dst, r.MediaType)
	}
	if r.Error != "" {
		field("error")
		dst = AppendString(dst, r.Error)
	}
	return append(dst, '}')
}
