package advise

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// YAML renders the result as a multi-document YAML stream that
// `kubectl apply -f` takes: a comment for each skipped edge, then the
// policies separated by "---". An empty result is a comment only.
func (r Result) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# NetworkPolicies advised by gadget network-graph from a recorded graph.\n")
	b.WriteString("# They allow the traffic that was recorded and deny the rest: review them before applying.\n")
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "# skipped %s\n", strings.ReplaceAll(s, "\n", " "))
	}
	if len(r.Policies) == 0 {
		b.WriteString("# no policy: the graph has no edge of a labelled pod\n")
	}
	for _, p := range r.Policies {
		out, err := yaml.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("network policy %s/%s: %w", p.Namespace, p.Name, err)
		}
		b.WriteString("---\n")
		b.Write(out)
	}
	return b.Bytes(), nil
}
