package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gadgetkit/gadget/framework/kubemeta"
	"github.com/gadgetkit/gadget/framework/registry"
)

// addKubeEnricher adds to mgr the informer caches of the cluster's pods,
// services and nodes, and returns the enrichment they drive: for each
// gadget of reg that declares a kubemeta.Enrichment, e.g. the Kubernetes
// fields of every edge. Until the caches are filled, batches go out as the
// gadget made them.
func addKubeEnricher(mgr manager.Manager, cfg *rest.Config, reg *registry.Registry, log *slog.Logger) (func(string, any) any, error) {
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("enricher client: %w", err)
	}
	idx, err := kubemeta.New(clientset, log)
	if err != nil {
		return nil, err
	}
	err = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		syncCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := idx.Start(syncCtx, ctx.Done()); err != nil {
			// Keep going: the informers go on retrying, and the edges
			// are delivered without the cluster's names meanwhile.
			log.Error("kubernetes caches not filled; edges are not enriched until they are", "err", err)
		} else {
			log.Info("kubernetes caches filled")
		}
		<-ctx.Done()
		idx.Shutdown()
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("enricher: %w", err)
	}
	enrich := map[string]func(kubemeta.Lookup, any){}
	for _, info := range reg.All() {
		if e, ok := kubemeta.EnrichmentOf(info); ok {
			enrich[info.Name] = e.Enrich
		}
	}
	return func(gadget string, batch any) any {
		if f := enrich[gadget]; f != nil {
			f(idx, batch)
		}
		return batch
	}, nil
}
