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
		b.Write(nameCIDRs(out, "cidr: ", r.PeerNames))
	}
	return b.Bytes(), nil
}

// nameCIDRs appends a comment with the DNS names of names to every line of
// doc, a YAML document, that holds a CIDR of names after prefix (e.g.
// "cidr: 10.0.0.1/32" or "- 10.0.0.1/32"), once indentation is removed.
func nameCIDRs(doc []byte, prefix string, names map[string]string) []byte {
	if len(names) == 0 {
		return doc
	}
	lines := strings.SplitAfter(string(doc), "\n")
	for i, l := range lines {
		body := strings.TrimRight(l, "\n")
		v, ok := strings.CutPrefix(strings.TrimLeft(body, " "), prefix)
		if !ok {
			continue
		}
		if n, ok := names[strings.Trim(v, `"'`)]; ok {
			lines[i] = body + " # " + strings.ReplaceAll(n, "\n", " ") + l[len(body):]
		}
	}
	return []byte(strings.Join(lines, ""))
}
