// Command stages is the conformance formatter cut into stages, for
// BenchmarkGoGuestStages in framework/plugin/plugintest: the parameter
// "stage" stops it after one of them and answers a short summary, so that
// the benchmark can tell what each stage of a Go guest's 10,000-edge batch
// costs. Stages: "call" (decode the request, no batch read), "pass" (one
// plain loop over the batch's bytes counting its quotes: the least a
// guest reading its input can do), "scan"
// (wasm.ForEachObject over the batch, nothing read from the objects),
// "fields" (the "ip" and "port" of every event read too), "lines" (the
// output lines built too, not returned), "full" (conformance.Format, its
// output returned).
package main

import (
	"fmt"
	"strconv"

	"github.com/gadgetkit/gadget/plugins/conformance"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

func init() {
	wasm.Formatter(abi.Manifest{Name: "stages", MediaType: "text/plain", Description: "The conformance formatter in stages, for benchmarks."}, format)
}

func format(req abi.Request) ([]byte, error) {
	stage := req.Parameters["stage"]
	switch stage {
	case "call":
		return []byte("0"), nil
	case "pass":
		n := 0
		for _, c := range req.Batch {
			if c == '"' {
				n++
			}
		}
		return strconv.AppendInt(nil, int64(n), 10), nil
	case "full":
		return conformance.Format(abi.Request{ContractVersion: req.ContractVersion, Gadget: req.Gadget, Sequence: req.Sequence, Final: req.Final, Batch: req.Batch})
	case "scan", "fields", "lines":
	default:
		return nil, fmt.Errorf("parameter stage: %q is none of call, pass, scan, fields, lines, full", stage)
	}
	var lines []byte
	sum := int64(0)
	err := wasm.ForEachObject(req.Batch, func(o wasm.Object) error {
		if stage == "scan" {
			sum++
			return nil
		}
		ip, err := o.Text("ip")
		if err != nil {
			return err
		}
		port, err := o.Int("port")
		if err != nil {
			return err
		}
		if stage == "fields" {
			sum += int64(len(ip)) + port
			return nil
		}
		lines = strconv.AppendInt(append(append(lines, ip...), ' '), port, 10)
		lines = append(lines, '\n')
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode the batch: %w", err)
	}
	return strconv.AppendInt(nil, sum+int64(len(lines)), 10), nil
}

func main() {}
