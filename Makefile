# gadget — make help lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-24s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the gadget CLI into bin/.
	$(GO) build -o $(BIN)/gadget ./cmd/gadget

.PHONY: test
test: lint check-generated ## Unit and privileged integration tests (root runs the privileged ones).
	$(GO) test -count=1 ./...

.PHONY: test-unit
test-unit: ## Unit tests only, no root needed.
	$(GO) test -count=1 -short ./...

.PHONY: lint
lint: ## gofmt, go vet and staticcheck.
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: demo
demo: build ## Local demo (root): four netns pods, real traffic, the graph as a table and as DOT.
	./hack/demo.sh $(BIN)/gadget

.PHONY: generate
generate: generate-bpf generate-documentation ## Regenerate all generated files.

.PHONY: generate-bpf
generate-bpf: ## Rebuild the eBPF objects with clang (bpf2go).
	$(GO) generate ./bpf/...

.PHONY: generate-documentation
generate-documentation: ## Write docs/gadgets/*.md from the registry.
	$(GO) run ./cmd/gendocs -out docs/gadgets

.PHONY: check-generated
check-generated: ## Fail if regenerating would change a committed file.
	./hack/check-generated.sh
