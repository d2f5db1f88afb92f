package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/registry"
)

// clients reach the cluster.
type clients struct {
	rest  *rest.Config
	ctrl  client.Client
	typed kubernetes.Interface
}

// kubeFlags are the kubeconfig flags, as kubectl has them, minus
// --namespace, which selects pods here.
type kubeFlags struct {
	loading   *clientcmd.ClientConfigLoadingRules
	overrides *clientcmd.ConfigOverrides
	timeout   time.Duration
	// connect is how the commands get their clients; tests replace it.
	connect func() (*clients, error)
}

func (k *kubeFlags) bind(cmd *cobra.Command) {
	k.loading = clientcmd.NewDefaultClientConfigLoadingRules()
	k.overrides = &clientcmd.ConfigOverrides{}
	f := cmd.PersistentFlags()
	f.StringVar(&k.loading.ExplicitPath, "kubeconfig", "", "path to the kubeconfig file")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	names.ContextOverrideFlags.Namespace.LongName = "" // -n selects pods, see --trace-namespace
	names.ContextOverrideFlags.Namespace.ShortName = ""
	clientcmd.BindOverrideFlags(k.overrides, f, names)
	f.DurationVar(&k.timeout, "wait-timeout", 20*time.Second, "how long to wait for the node agents to carry out an operation")
	if k.connect == nil {
		k.connect = k.defaultConnect
	}
}

func (k *kubeFlags) defaultConnect() (*clients, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(k.loading, k.overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w (set --kubeconfig or KUBECONFIG)", err)
	}
	return newClients(cfg)
}

// newClients returns the clients of the cluster cfg points to.
func newClients(cfg *rest.Config) (*clients, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	typed, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &clients{rest: cfg, ctrl: c, typed: typed}, nil
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	return newRootCmdWith(stdout, stderr, &kubeFlags{})
}

func newRootCmdWith(stdout, stderr io.Writer, k *kubeFlags) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl-gadget",
		Short:         "Run gadgets on the nodes of a Kubernetes cluster",
		Long:          "kubectl gadget deploys gadget's node agent and runs gadgets on the cluster's nodes through Trace resources.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, cmd.CommandPath())
	})
	k.bind(root)
	root.AddCommand(newDeployCmd(k), newUndeployCmd(k), newVersionCmd(k))
	root.AddCommand(newGadgetCmds(k, registry.Declared)...)
	return root
}
