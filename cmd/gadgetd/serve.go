package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/controller"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/framework/streamhttp"
	"github.com/gadgetkit/gadget/internal/cgroupmem"
	"github.com/gadgetkit/gadget/internal/version"

	// The gadgets the agent runs register themselves.
	_ "github.com/gadgetkit/gadget/gadgets/all"
)

// serve runs the node agent until ctx is done.
func serve(ctx context.Context, o options, stderr io.Writer) error {
	handler := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})
	log := slog.New(handler)
	logger := logr.FromSlogHandler(handler)
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	if o.limits.kernelBytes, err = o.limits.kernelBudget(log, cgroupmem.Limit); err != nil {
		return usageError{err}
	}
	agent, err := newAgent(cfg, o, log, registry.Default, nil)
	if err != nil {
		return err
	}
	log.Info("gadgetd starting", "version", version.Get(), "node", o.nodeName, "gadgets", registry.Default.Names())
	if err := agent.Start(ctx); err != nil {
		return fmt.Errorf("run the manager: %w", err)
	}
	return nil
}

// restConfig reads the kubeconfig file, or the in-cluster configuration
// when file is empty.
func restConfig(file string) (*rest.Config, error) {
	if file == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, usageError{fmt.Errorf("in-cluster configuration: %w: pass --kubeconfig FILE outside a pod", err)}
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", file)
	if err != nil {
		return nil, usageError{fmt.Errorf("--kubeconfig %s: %w", file, err)}
	}
	return cfg, nil
}

// newAgent returns the agent's manager: its cache holds only the Traces of
// o.nodeName, its reconciler runs their gadgets from reg on the targets
// reports (nil means the node's pods, found by containers.PodSource), and
// it serves metrics and health probes. It lists nothing until started.
func newAgent(cfg *rest.Config, o options, log *slog.Logger, reg *registry.Registry, targets controller.TargetSource) (ctrl.Manager, error) {
	scheme := k8sruntime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controller.CacheOptions(o.nodeName),
		Metrics:                o.metrics.server(o.metricsAddr, log.With("component", "metrics")),
		HealthProbeBindAddress: o.healthAddr,
	})
	if err != nil {
		return nil, fmt.Errorf("create the manager: %w", err)
	}
	set, err := newMetrics(reg, o.metrics, log.With("component", "metrics"))
	if err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("ready check: %w", err)
	}
	if targets == nil {
		clientset, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("pod client: %w", err)
		}
		targets = containers.NewPodSource(clientset, o.nodeName, log.With("component", "pods"))
	}
	var enrich func(string, any) any
	if o.kubeEnrich {
		if enrich, err = addKubeEnricher(mgr, cfg, reg, log.With("component", "enricher")); err != nil {
			return nil, err
		}
	}
	r, err := controller.New(controller.Options{
		Node:     o.nodeName,
		Registry: reg,
		Targets:  targets,
		Logger:   log,
		Enrich:   enrich,
		Plugins:  tracePlugins(o.pluginDir, defaultWasmCache(), o.privileged, set),
		Metrics:  set,

		RequireScopePolicy: o.scopePolicy,
		HeartbeatInterval:  o.heartbeatInterval,
		CheckpointDir:      o.checkpointDir,
		StreamBytes:        int(o.limits.streamBytes.Value()),
		MaxTraces:          o.limits.maxTraces,
		KernelMemoryBudget: o.limits.kernelBytes,
	})
	if err != nil {
		return nil, err
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := addDebugServer(mgr, o.debugAddr, log.With("component", "debug")); err != nil {
		return nil, err
	}
	if o.streamAddr != "0" && o.streamAddr != "" {
		srv := &streamhttp.Server{
			Streams: r, Logger: log.With("component", "stream"), Metrics: set,
			MaxReaders: o.limits.streamMaxReaders, WriteTimeout: o.limits.streamWriteTimeout,
		}
		err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			log.Info("stream server listening", "address", o.streamAddr)
			return streamhttp.ListenAndServe(ctx, o.streamAddr, srv.Handler())
		}))
		if err != nil {
			return nil, fmt.Errorf("stream server: %w", err)
		}
	}
	return mgr, nil
}
