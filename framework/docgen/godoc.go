package docgen

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/printer"
	"go/token"
	"path/filepath"
	"strings"
)

// ErrTypesPackage is returned (wrapped) when a gadget's types package
// cannot be found, read or parsed.
var ErrTypesPackage = errors.New("cannot document types package")

// indent is the indentation go doc uses for documentation text.
const indent = "    "

// buildContext is the build context the types package is read with. It is
// pinned to linux/amd64, where the gadgets run, so that every machine
// renders the same files whatever its own platform.
func buildContext() build.Context {
	ctxt := build.Default
	ctxt.GOOS = "linux"
	ctxt.GOARCH = "amd64"
	return ctxt
}

// packageText renders the documentation of the package importPath the way
// `go doc -all` lays it out: the package clause, the package comment, then
// the CONSTANTS, VARIABLES, FUNCTIONS and TYPES sections, each declaration
// printed by go/printer and followed by its indented doc text, the
// constructors and methods of a type after the type. Unlike go doc, comments
// inside declarations (struct fields) are printed exactly as written.
//
// The import path is resolved with the go command from srcDir, so it finds
// the packages of the module srcDir belongs to. The error wraps
// ErrTypesPackage.
func packageText(importPath, srcDir string) ([]byte, error) {
	ctxt := buildContext()
	bp, err := ctxt.Import(importPath, srcDir, 0)
	if err != nil {
		// The go command's message may span lines and suggest `go get`,
		// which is not the fix for a mistyped path: keep one line and
		// leave the advice to the caller.
		msg, _, _ := strings.Cut(err.Error(), "; to add it:")
		return nil, fmt.Errorf("%w: %s", ErrTypesPackage, strings.Join(strings.Fields(msg), " "))
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range append(append([]string(nil), bp.GoFiles...), bp.CgoFiles...) {
		f, err := parser.ParseFile(fset, filepath.Join(bp.Dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTypesPackage, err)
		}
		files = append(files, f)
	}
	dpkg, err := doc.NewFromFiles(fset, files, bp.ImportPath, doc.AllDecls)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTypesPackage, err)
	}
	clause := bp.ImportComment
	if clause == "" {
		clause = bp.ImportPath
	}
	w := newDocWriter(fset, dpkg)
	w.render(clause)
	if w.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTypesPackage, w.err)
	}
	return w.buf.Bytes(), nil
}

// docWriter accumulates the text of one package. The first printing error
// is kept in err; later writes are still attempted but the result is
// discarded by the caller.
type docWriter struct {
	buf  bytes.Buffer
	fset *token.FileSet
	pkg  *doc.Package
	err  error

	// typedValue and constructor mark the values and functions printed
	// with their (exported) type rather than in the package sections.
	typedValue  map[*doc.Value]bool
	constructor map[*doc.Func]bool
	// declared holds the names of the package's own types, to tell the
	// predeclared error and comparable apart from package types of the
	// same name when they are embedded in an interface.
	declared map[string]bool
}

func newDocWriter(fset *token.FileSet, pkg *doc.Package) *docWriter {
	w := &docWriter{
		fset:        fset,
		pkg:         pkg,
		typedValue:  map[*doc.Value]bool{},
		constructor: map[*doc.Func]bool{},
		declared:    map[string]bool{},
	}
	// go/doc attaches typed values and constructors to their type, even an
	// unexported one. Like go doc, list them in the package sections too,
	// and remember the ones an exported type will print itself.
	for _, t := range pkg.Types {
		w.declared[t.Name] = true
		pkg.Consts = append(pkg.Consts, t.Consts...)
		pkg.Vars = append(pkg.Vars, t.Vars...)
		pkg.Funcs = append(pkg.Funcs, t.Funcs...)
		if !token.IsExported(t.Name) {
			continue
		}
		for _, v := range t.Consts {
			w.typedValue[v] = true
		}
		for _, v := range t.Vars {
			w.typedValue[v] = true
		}
		for _, f := range t.Funcs {
			w.constructor[f] = true
		}
	}
	return w
}

func (w *docWriter) render(importPath string) {
	fmt.Fprintf(&w.buf, "package %s // import %q\n\n", w.pkg.Name, importPath)
	w.text(w.pkg.Doc, "", indent)
	w.newlines(1)
	printed := map[*ast.GenDecl]bool{}
	w.values("CONSTANTS", w.pkg.Consts, printed)
	w.values("VARIABLES", w.pkg.Vars, printed)
	header := false
	for _, f := range w.pkg.Funcs {
		if !token.IsExported(f.Name) || w.constructor[f] {
			continue
		}
		if !header {
			w.header("FUNCTIONS")
			header = true
		}
		w.emit(f.Doc, f.Decl)
	}
	header = false
	for _, t := range w.pkg.Types {
		if !token.IsExported(t.Name) {
			continue
		}
		if !header {
			w.header("TYPES")
			header = true
		}
		w.typeDoc(t)
	}
	if bugs := w.pkg.Notes["BUG"]; len(bugs) > 0 {
		w.buf.WriteString("\n")
		for _, note := range bugs {
			fmt.Fprintf(&w.buf, "BUG: %s\n", note.Body)
		}
	}
}

// header starts a section, with a blank line on each side.
func (w *docWriter) header(name string) {
	fmt.Fprintf(&w.buf, "\n%s\n\n", name)
}

// newlines makes sure the text ends with n (1 or 2) newlines.
func (w *docWriter) newlines(n int) {
	for !bytes.HasSuffix(w.buf.Bytes(), []byte("\n\n")[:n]) {
		w.buf.WriteByte('\n')
	}
}

// text writes a doc comment as plain text.
func (w *docWriter) text(comment, prefix, codePrefix string) {
	p := w.pkg.Printer()
	p.TextPrefix = prefix
	p.TextCodePrefix = codePrefix
	w.buf.Write(p.Text(w.pkg.Parser().Parse(comment)))
}

// emit prints a declaration followed by its doc comment, indented.
func (w *docWriter) emit(comment string, node ast.Node) {
	cfg := printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}
	if err := cfg.Fprint(&w.buf, w.fset, node); err != nil && w.err == nil {
		w.err = err
	}
	w.newlines(1)
	if comment != "" {
		w.text(comment, indent, indent+indent)
		w.newlines(2)
	}
}

// values prints, under a header, the groups of values not printed with
// their type.
func (w *docWriter) values(section string, values []*doc.Value, printed map[*ast.GenDecl]bool) {
	header := false
	for _, v := range values {
		if w.typedValue[v] || !hasExported(v.Names) {
			continue
		}
		if !header {
			w.header(section)
			header = true
		}
		w.valueDoc(v, printed)
	}
}

// valueDoc prints a const or var group once, keeping only the specs that
// declare at least one exported name.
func (w *docWriter) valueDoc(v *doc.Value, printed map[*ast.GenDecl]bool) {
	if printed[v.Decl] {
		return
	}
	specs := make([]ast.Spec, 0, len(v.Decl.Specs))
	var typ ast.Expr // the type an implicitly typed spec carries over
	for _, s := range v.Decl.Specs {
		vs := s.(*ast.ValueSpec)
		if vs.Type != nil {
			typ = vs.Type
		}
		if !hasExportedIdent(vs.Names) {
			continue
		}
		if vs.Type == nil && vs.Values == nil && typ != nil {
			// The typed spec this one repeats (as with iota) is hidden:
			// show its type here.
			vs.Type = &ast.Ident{Name: w.exprString(typ), NamePos: vs.End() - 1}
		}
		specs = append(specs, vs)
		typ = nil
	}
	if len(specs) == 0 {
		return
	}
	v.Decl.Specs = specs
	w.emit(v.Doc, v.Decl)
	printed[v.Decl] = true
}

// typeDoc prints a type, then its values, constructors and methods.
func (w *docWriter) typeDoc(t *doc.Type) {
	decl := t.Decl
	var spec *ast.TypeSpec
	for _, s := range decl.Specs {
		if ts := s.(*ast.TypeSpec); ts.Name.Name == t.Name {
			spec = ts
		}
	}
	if spec == nil {
		return
	}
	w.trimUnexported(spec)
	decl.Specs = []ast.Spec{spec}
	w.emit(t.Doc, decl)
	w.newlines(2)
	printed := map[*ast.GenDecl]bool{}
	for _, v := range append(append([]*doc.Value(nil), t.Consts...), t.Vars...) {
		if hasExported(v.Names) {
			w.valueDoc(v, printed)
		}
	}
	for _, f := range append(append([]*doc.Func(nil), t.Funcs...), t.Methods...) {
		if !token.IsExported(f.Name) {
			continue
		}
		w.emit(f.Doc, f.Decl)
		if f.Doc == "" {
			w.newlines(2)
		}
	}
}

// trimUnexported removes the unexported fields of a struct or methods of
// an interface, leaving a "// Has unexported …" line in their place.
func (w *docWriter) trimUnexported(spec *ast.TypeSpec) {
	switch t := spec.Type.(type) {
	case *ast.StructType:
		t.Fields = w.trimFields(t.Fields, "fields", false)
	case *ast.InterfaceType:
		t.Methods = w.trimFields(t.Methods, "methods", true)
	}
}

func (w *docWriter) trimFields(fields *ast.FieldList, what string, isInterface bool) *ast.FieldList {
	if fields == nil {
		return nil
	}
	kept := make([]*ast.Field, 0, len(fields.List))
	trimmed := false
	for _, f := range fields.List {
		names := f.Names
		if len(names) == 0 {
			names = w.embeddedName(f.Type, isInterface)
			if names == nil {
				// Predeclared error/comparable or a constraint
				// element: always shown.
				kept = append(kept, f)
				continue
			}
		}
		if allExported(names) {
			kept = append(kept, f)
		} else {
			trimmed = true
		}
	}
	if !trimmed {
		return fields
	}
	// A nameless field with an empty type name prints as its trailing
	// comment alone, placed just before the closing brace.
	marker := &ast.Field{
		Type: &ast.Ident{Name: "", NamePos: fields.Closing - 1},
		Comment: &ast.CommentGroup{List: []*ast.Comment{
			{Text: "// Has unexported " + what + ".\n"},
		}},
	}
	return &ast.FieldList{Opening: fields.Opening, List: append(kept, marker), Closing: fields.Closing}
}

// embeddedName returns the name an embedded field is known by, or nil for
// elements that are always shown (the predeclared error and comparable in
// an interface, and constraint elements such as ~int | string).
func (w *docWriter) embeddedName(typ ast.Expr, isInterface bool) []*ast.Ident {
	if star, ok := typ.(*ast.StarExpr); ok && !isInterface {
		typ = star.X
	}
	switch t := typ.(type) {
	case *ast.Ident:
		if isInterface && (t.Name == "error" || t.Name == "comparable") && !w.declared[t.Name] {
			return nil
		}
		return []*ast.Ident{t}
	case *ast.SelectorExpr:
		return []*ast.Ident{t.Sel}
	case *ast.IndexExpr:
		return w.embeddedName(t.X, isInterface)
	case *ast.IndexListExpr:
		return w.embeddedName(t.X, isInterface)
	}
	return nil
}

// exprString prints an expression on one line.
func (w *docWriter) exprString(x ast.Expr) string {
	var b strings.Builder
	if err := printer.Fprint(&b, w.fset, x); err != nil && w.err == nil {
		w.err = err
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func hasExported(names []string) bool {
	for _, n := range names {
		if token.IsExported(n) {
			return true
		}
	}
	return false
}

func hasExportedIdent(ids []*ast.Ident) bool {
	for _, id := range ids {
		if token.IsExported(id.Name) {
			return true
		}
	}
	return false
}

func allExported(ids []*ast.Ident) bool {
	for _, id := range ids {
		if !token.IsExported(id.Name) {
			return false
		}
	}
	return true
}
