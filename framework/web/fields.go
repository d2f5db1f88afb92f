package web

import (
	"reflect"
	"strings"
)

// Fields returns the JSON field names of the events of batch, in
// declaration order: batch is a slice or array of structs (or of pointers
// to structs); the fields of embedded structs without a JSON name are
// inlined, as encoding/json does, and fields tagged "-" or unexported are
// left out. For any other batch Fields returns nil and the page takes the
// columns from the events it receives.
func Fields(batch any) []string {
	t := reflect.TypeOf(batch)
	if t == nil {
		return nil
	}
	if k := t.Kind(); k == reflect.Slice || k == reflect.Array {
		t = t.Elem()
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	appendFields(t, &out, seen)
	return out
}

func appendFields(t reflect.Type, out *[]string, seen map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			appendFields(ft, out, seen)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if !seen[name] {
			seen[name] = true
			*out = append(*out, name)
		}
	}
}
