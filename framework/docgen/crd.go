package docgen

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// CRDPage renders the reference page of a CustomResourceDefinition: for
// each served version, one table row per field of its OpenAPI schema (dotted
// path, type, whether it is required, its default and allowed values, and
// its description), depth first with the properties of each object sorted
// by name. crd is the CRD's YAML, as controller-gen writes it; intro is the
// paragraph shown under the title. The page depends only on its arguments.
//
// A document that is not a CustomResourceDefinition with at least one
// version schema gives an error naming what is missing.
func CRDPage(crd []byte, intro string) ([]byte, error) {
	var doc crdYAML
	if err := yaml.Unmarshal(crd, &doc); err != nil {
		return nil, fmt.Errorf("CRD reference: parse YAML: %w", err)
	}
	if doc.Kind != "CustomResourceDefinition" {
		return nil, fmt.Errorf("CRD reference: kind is %q: want a CustomResourceDefinition", doc.Kind)
	}
	if len(doc.Spec.Versions) == 0 {
		return nil, fmt.Errorf("CRD reference: %s: spec.versions is empty", doc.Metadata.Name)
	}

	var b bytes.Buffer
	frontMatter(&b, doc.Spec.Names.Kind+" reference")
	fmt.Fprintf(&b, "`%s`: kind `%s`, plural `%s`, %s scope.\n",
		doc.Metadata.Name, doc.Spec.Names.Kind, doc.Spec.Names.Plural, strings.ToLower(doc.Spec.Scope))
	if intro = strings.TrimSpace(intro); intro != "" {
		fmt.Fprintf(&b, "\n%s\n", intro)
	}
	for _, v := range doc.Spec.Versions {
		if v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("CRD reference: %s version %s: schema.openAPIV3Schema is missing", doc.Metadata.Name, v.Name)
		}
		fmt.Fprintf(&b, "\n## %s/%s\n", doc.Spec.Group, v.Name)
		if len(v.PrinterColumns) > 0 {
			b.WriteString("\n`kubectl get` columns: ")
			names := make([]string, 0, len(v.PrinterColumns))
			for _, c := range v.PrinterColumns {
				names = append(names, fmt.Sprintf("%s (`%s`)", c.Name, c.JSONPath))
			}
			b.WriteString(strings.Join(names, ", "))
			b.WriteString(".\n")
		}
		b.WriteString("\n| Field | Type | Required | Default / values | Description |\n")
		b.WriteString("| --- | --- | --- | --- | --- |\n")
		root := v.Schema.OpenAPIV3Schema
		for _, top := range []string{"spec", "status"} {
			if s, ok := root.Properties[top]; ok {
				fieldRows(&b, top, s, slices.Contains(root.Required, top))
			}
		}
	}
	return b.Bytes(), nil
}

// fieldRows writes the row of one field, then those of its properties, or
// of its items' properties for arrays.
func fieldRows(b *bytes.Buffer, path string, s *schemaYAML, required bool) {
	typ := s.Type
	switch {
	case typ == "array" && s.Items != nil:
		typ = "[]" + s.Items.Type
	case typ == "object" && s.AdditionalProperties != nil && s.AdditionalProperties.Type != "":
		typ = "map[string]" + s.AdditionalProperties.Type
	}
	var values []string
	if s.Default != nil {
		values = append(values, fmt.Sprintf("default `%v`", s.Default))
	}
	if len(s.Enum) > 0 {
		enum := make([]string, 0, len(s.Enum))
		for _, e := range s.Enum {
			enum = append(enum, fmt.Sprintf("`%v`", e))
		}
		values = append(values, "one of "+strings.Join(enum, ", "))
	}
	if s.MinLength != nil {
		values = append(values, fmt.Sprintf("min length %d", *s.MinLength))
	}
	req := ""
	if required {
		req = "yes"
	}
	fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", path, typ, req, cell(strings.Join(values, "; ")), cell(s.Description))

	props := s.Properties
	reqs := s.Required
	if s.Items != nil && len(s.Items.Properties) > 0 {
		props, reqs, path = s.Items.Properties, s.Items.Required, path+"[]"
	}
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fieldRows(b, path+"."+name, props[name], slices.Contains(reqs, name))
	}
}

// crdYAML is the part of a CustomResourceDefinition the page shows.
type crdYAML struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Group string `yaml:"group"`
		Scope string `yaml:"scope"`
		Names struct {
			Kind   string `yaml:"kind"`
			Plural string `yaml:"plural"`
		} `yaml:"names"`
		Versions []struct {
			Name           string `yaml:"name"`
			PrinterColumns []struct {
				Name     string `yaml:"name"`
				JSONPath string `yaml:"jsonPath"`
			} `yaml:"additionalPrinterColumns"`
			Schema struct {
				OpenAPIV3Schema *schemaYAML `yaml:"openAPIV3Schema"`
			} `yaml:"schema"`
		} `yaml:"versions"`
	} `yaml:"spec"`
}

// schemaYAML is the part of an OpenAPI v3 schema the page shows.
type schemaYAML struct {
	Type                 string                 `yaml:"type"`
	Description          string                 `yaml:"description"`
	Properties           map[string]*schemaYAML `yaml:"properties"`
	Required             []string               `yaml:"required"`
	Items                *schemaYAML            `yaml:"items"`
	AdditionalProperties *schemaYAML            `yaml:"additionalProperties"`
	Enum                 []any                  `yaml:"enum"`
	Default              any                    `yaml:"default"`
	MinLength            *int                   `yaml:"minLength"`
}
