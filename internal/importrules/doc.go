// Package importrules holds the test that keeps the import rules of the
// design (which part of the repository may use which): framework/ never
// imports gadgets/, a gadget never imports another gadget, plugins/sdk and
// the reference plugins never import framework/, cmd/ names no gadget, bpf/
// objects belong to their gadget, and no package is named util, common or
// helpers. It reads the packages with go list; make lint runs it.
package importrules
