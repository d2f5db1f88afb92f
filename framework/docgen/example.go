package docgen

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// The Trace custom resource the example is an instance of.
const (
	traceAPIVersion = "gadget.kinvolk.io/v1alpha1"
	traceKind       = "Trace"
	// defaultNamespace is where Traces live when a gadget's example does
	// not say: the namespace the gadget agent is deployed to.
	defaultNamespace = "gadget"
)

// The YAML form of a Trace. Field order is the order of the keys in the
// documentation; empty fields are left out.
type (
	traceYAML struct {
		APIVersion string       `yaml:"apiVersion"`
		Kind       string       `yaml:"kind"`
		Metadata   metadataYAML `yaml:"metadata"`
		Spec       specYAML     `yaml:"spec"`
	}
	metadataYAML struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	}
	specYAML struct {
		Node       string            `yaml:"node,omitempty"`
		Gadget     string            `yaml:"gadget"`
		Filter     *filterYAML       `yaml:"filter,omitempty"`
		RunMode    string            `yaml:"runMode,omitempty"`
		OutputMode string            `yaml:"outputMode,omitempty"`
		Parameters map[string]string `yaml:"parameters,omitempty"`
	}
	filterYAML struct {
		Namespace     string            `yaml:"namespace,omitempty"`
		Podname       string            `yaml:"podname,omitempty"`
		Labels        map[string]string `yaml:"labels,omitempty"`
		ContainerName string            `yaml:"containerName,omitempty"`
	}
)

// traceName and traceNamespace are the name and namespace of the example
// Trace: the declared ones, else the gadget's name and defaultNamespace.
func traceName(info *gadget.Info) string {
	if info.Example.Name != "" {
		return info.Example.Name
	}
	return info.Name
}

func traceNamespace(info *gadget.Info) string {
	if info.Example.Namespace != "" {
		return info.Example.Namespace
	}
	return defaultNamespace
}

// exampleYAML renders the gadget's example Trace as YAML with two-space
// indentation. Map keys (labels, parameters) come out sorted.
func exampleYAML(info *gadget.Info) ([]byte, error) {
	ex := info.Example
	tr := traceYAML{
		APIVersion: traceAPIVersion,
		Kind:       traceKind,
		Metadata:   metadataYAML{Name: traceName(info), Namespace: traceNamespace(info)},
		Spec: specYAML{
			Node:       ex.Node,
			Gadget:     info.Name,
			RunMode:    ex.RunMode,
			OutputMode: string(ex.OutputMode),
			Parameters: ex.Parameters,
		},
	}
	f := ex.Filter
	if f.Namespace != "" || f.Podname != "" || len(f.Labels) > 0 || f.ContainerName != "" {
		tr.Spec.Filter = &filterYAML{
			Namespace:     f.Namespace,
			Podname:       f.Podname,
			Labels:        f.Labels,
			ContainerName: f.ContainerName,
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(tr); err != nil {
		return nil, fmt.Errorf("gadget %q: Example: render as YAML: %w", info.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("gadget %q: Example: render as YAML: %w", info.Name, err)
	}
	return b.Bytes(), nil
}
