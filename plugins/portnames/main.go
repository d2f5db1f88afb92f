// Command portnames is a network-graph enricher as a WASM plugin: it names
// the well-known port of every edge (53/udp → dns, 5432/tcp → postgres)
// in the edge's annotations, as "portnames/service": "dns" (the other
// enrichers' annotations are kept). Warn and err events and edges of
// unknown ports pass unchanged; every other field is kept as it came.
//
// The parameter "ports" adds or overrides names, e.g.
// "8080/tcp=web,9000=minio" (a port without protocol names both).
package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

func init() {
	wasm.Enricher(abi.Manifest{
		Name:        "portnames",
		Description: "Names well-known ports (53 → dns, 5432 → postgres) in the annotation portnames/service.",
	}, enrich)
}

func main() {}

// wellKnown maps "port/proto" to a service name.
var wellKnown = map[string]string{
	"22/tcp": "ssh", "25/tcp": "smtp", "53/udp": "dns", "53/tcp": "dns",
	"67/udp": "dhcp", "80/tcp": "http", "123/udp": "ntp", "443/tcp": "https",
	"443/udp": "quic", "2379/tcp": "etcd", "3306/tcp": "mysql", "5432/tcp": "postgres",
	"6379/tcp": "redis", "6443/tcp": "kubernetes", "8080/tcp": "http-alt", "9090/tcp": "prometheus",
	"9092/tcp": "kafka", "10250/tcp": "kubelet", "11211/tcp": "memcached", "27017/tcp": "mongodb",
}

// names returns the table of this call: wellKnown and the "ports"
// parameter.
func names(param string) (map[string]string, error) {
	m := make(map[string]string, len(wellKnown))
	for k, v := range wellKnown {
		m[k] = v
	}
	for item := range strings.SplitSeq(param, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, name, ok := strings.Cut(item, "=")
		port, proto, hasProto := strings.Cut(key, "/")
		n, err := strconv.Atoi(port)
		if !ok || name == "" || err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("parameter ports: %q: want PORT[/PROTO]=NAME, e.g. 8080/tcp=web", item)
		}
		if hasProto {
			m[strconv.Itoa(n)+"/"+strings.ToLower(proto)] = name
			continue
		}
		m[strconv.Itoa(n)+"/tcp"], m[strconv.Itoa(n)+"/udp"] = name, name
	}
	return m, nil
}

// annotation is the key under which portnames names a port.
const annotation = "portnames/service"

// enrich names the ports of the batch. It reads the batch with the SDK's
// ForEachObject and writes each event back member by member, in its order,
// with only "annotations" changed: no reflection, no map per event.
func enrich(req abi.Request) ([]byte, error) {
	table, err := names(req.Parameters["ports"])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(req.Batch)+len(req.Batch)/8)
	out = append(out, '[')
	err = wasm.ForEachObject(req.Batch, func(o wasm.Object) error {
		if len(out) > 1 {
			out = append(out, ',')
		}
		name, err := serviceName(o, table)
		if err != nil {
			return err
		}
		out = append(out, '{')
		for i := range o.Len() {
			key, value := o.Member(i)
			if name != "" && string(key) == "annotations" {
				continue
			}
			if out[len(out)-1] != '{' {
				out = append(out, ',')
			}
			out = append(wasm.AppendString(out, string(key)), ':')
			out = append(out, value...)
		}
		if name != "" {
			if out[len(out)-1] != '{' {
				out = append(out, ',')
			}
			if out, err = appendAnnotations(out, o.Raw("annotations"), name); err != nil {
				return err
			}
		}
		out = append(out, '}')
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode the batch: %w", err)
	}
	return append(out, ']'), nil
}

// appendAnnotations appends the member "annotations": the annotations of
// old (a JSON object, null or nil) as they were, but for portnames' own,
// which is set to name.
func appendAnnotations(out, old []byte, name string) ([]byte, error) {
	out = append(out, `"annotations":{`...)
	if len(old) > 0 && string(old) != "null" {
		if old[0] != '{' {
			return nil, fmt.Errorf("field annotations: %s is not an object", old)
		}
		err := wasm.ForEachObject(append(append([]byte{'['}, old...), ']'), func(a wasm.Object) error {
			for i := range a.Len() {
				key, value := a.Member(i)
				if string(key) == annotation {
					continue
				}
				out = append(wasm.AppendString(out, string(key)), ':')
				out = append(append(out, value...), ',')
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("field annotations: %w", err)
		}
	}
	out = append(wasm.AppendString(out, annotation), ':')
	return append(wasm.AppendString(out, name), '}'), nil
}

// serviceName returns the name of the port of the edge o, "" for warn
// and err events and unknown ports.
func serviceName(o wasm.Object, table map[string]string) (string, error) {
	typ, err := o.String("type")
	if err != nil || (typ != "" && typ != "normal") {
		return "", err
	}
	proto, err := o.String("proto")
	if err != nil {
		return "", err
	}
	port, err := o.Int("port")
	if err != nil {
		return "", err
	}
	return table[strconv.FormatInt(port, 10)+"/"+proto], nil
}
