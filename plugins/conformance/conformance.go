// Package conformance is the plugin logic every host runs in the
// conformance suite of framework/plugin/plugintest: a formatter and an
// enricher with fully specified, host-independent output. Its main
// packages (formatter, enricher) build it as WASM guests; other hosts wrap
// the same functions, so equal inputs must give equal outputs everywhere.
package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

// FormatterManifest describes the conformance formatter.
var FormatterManifest = abi.Manifest{
	Name:            "conformance",
	Kind:            abi.KindFormatter,
	ContractVersion: abi.ContractVersion,
	MediaType:       "text/plain",
	Description:     "Summarises each batch, for the conformance tests.",
}

// EnricherManifest describes the conformance enricher.
var EnricherManifest = abi.Manifest{
	Name:            "conformance-enricher",
	Kind:            abi.KindEnricher,
	ContractVersion: abi.ContractVersion,
	Description:     "Tags every event, for the conformance tests.",
}

// Format writes one line about the request, then one line per event with
// its "ip" and "port" fields, e.g.
//
//	network-graph #2 final=false events=2 params=a=1,b=2
//	10.0.0.1 80
//
// The parameter "fail" makes it fail with that message.
func Format(req abi.Request) ([]byte, error) {
	if msg, ok := req.Parameters["fail"]; ok {
		return nil, errors.New(msg)
	}
	// The lines are written as the batch is read, the count line put
	// before them at the end: no slice of events, few calls per event.
	var lines []byte
	n := 0
	err := wasm.ForEachObject(req.Batch, func(o wasm.Object) error {
		ip, err := o.Text("ip")
		if err != nil {
			return err
		}
		port, err := o.Int("port")
		lines = strconv.AppendInt(append(append(lines, ip...), ' '), port, 10)
		lines = append(lines, '\n')
		n++
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("decode the batch: %w", err)
	}
	head := fmt.Sprintf("%s #%d final=%t events=%d params=%s\n", req.Gadget, req.Sequence, req.Final, n, params(req.Parameters))
	return append([]byte(head), lines...), nil
}

// Enrich sets the "debug" field of every event to "seen by conformance"
// plus the value of the parameter "tag", if any, keeping every other
// field. The parameter "fail" makes it fail with that message.
func Enrich(req abi.Request) ([]byte, error) {
	if msg, ok := req.Parameters["fail"]; ok {
		return nil, errors.New(msg)
	}
	var events []map[string]json.RawMessage
	if err := json.Unmarshal(req.Batch, &events); err != nil {
		return nil, fmt.Errorf("decode the batch: %w", err)
	}
	debug := "seen by conformance"
	if tag := req.Parameters["tag"]; tag != "" {
		debug += " " + tag
	}
	v, _ := json.Marshal(debug)
	for _, e := range events {
		e["debug"] = v
	}
	if events == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(events)
}

func params(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + p[k]
	}
	return strings.Join(keys, ",")
}
