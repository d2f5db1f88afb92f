package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/internal/version"
)

// The default listen addresses. In the DaemonSet gadgetd has a network
// namespace of its own, so none of them is on the node's address; the
// ports avoid the ones node software commonly takes (8080, 8081, 9090,
// 10250-10259). The metrics endpoint listens on loopback unless
// --metrics-secure authenticates its requests; the stream server authorizes each request with the
// trace's token; the probes tell only ok.
const (
	defaultMetricsAddr = "127.0.0.1:9442"
	defaultHealthAddr  = ":9441"
	defaultStreamAddr  = ":7070"
)

// options are gadgetd's flags.
type options struct {
	nodeName    string
	kubeconfig  string
	metricsAddr string
	healthAddr  string
	streamAddr  string
	kubeEnrich  bool
	pluginDir   string
	// privileged are the go-plugins of pluginDir that keep gadgetd's
	// privileges (--plugin-privileged); the others run as nobody.
	privileged []string
	logLevel   slog.Level
	// scopePolicy: start no Trace unless the API server enforces the
	// scope policy (deploy/admission.yaml).
	scopePolicy       bool
	heartbeatInterval time.Duration
	checkpointDir     string
	limits            limits
	metrics           metricsOptions // --traffic-metrics*: metrics.go
	debugAddr         string         // --debug-bind-address: debug.go
}

// errVersion is what parseFlags returns once --version printed the
// version: the program exits with status 0.
var errVersion = errors.New("version printed")

// parseFlags parses args; getenv supplies NODE_NAME and KUBECONFIG.
// --version prints to stdout; usage and flag errors go to stderr.
func parseFlags(args []string, getenv func(string) string, stdout, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gadgetd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.nodeName, "node-name", getenv("NODE_NAME"),
		"name of this node: the agent handles the Traces whose spec.node is this name (default $NODE_NAME)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", getenv("KUBECONFIG"),
		"kubeconfig file to reach the API server; empty means the in-cluster service account (default $KUBECONFIG)")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", defaultMetricsAddr,
		"address of the Prometheus metrics endpoint; beyond loopback only with --metrics-secure; 0 disables it")
	fs.StringVar(&o.healthAddr, "health-probe-bind-address", defaultHealthAddr, "address of the /healthz and /readyz probes; 0 disables them")
	fs.StringVar(&o.streamAddr, "stream-bind-address", defaultStreamAddr,
		"address of the stream server of the Stream output mode, reached through the API server's pods/proxy; "+
			"each request needs the Trace's status.streamToken; 0 disables it")
	fs.BoolVar(&o.kubeEnrich, "kube-enrich", true,
		"enrich events from the cluster's pods, services and nodes (informer caches)")
	fs.StringVar(&o.pluginDir, "plugin-dir", "",
		"directory of the plugins a Trace may name in spec.parameters.formatter and spec.parameters.enrichers (NAME.wasm or a go-plugin executable NAME); empty: built-in formats only")
	fs.BoolVar(&o.scopePolicy, "require-scope-policy", true,
		"start no Trace unless the API server enforces the ValidatingAdmissionPolicy "+v1alpha1.ScopePolicyName+
			" (deploy/admission.yaml), which lets a user create a Trace only for pods the user may list; "+
			"false trusts every Trace, e.g. on a cluster where only administrators may create them")
	fs.DurationVar(&o.heartbeatInterval, "heartbeat-interval", v1alpha1.DefaultHeartbeatInterval,
		"how often the agent renews the AgentReady condition of each of its Traces (readers take it as Unknown "+
			"after 3 intervals) and checkpoints the running ones; whole seconds")
	fs.StringVar(&o.checkpointDir, "checkpoint-dir", "",
		"existing folder where the output so far of each running Status-mode trace is saved at every heartbeat and at shutdown, "+
			"so that a restarted agent resumes with it; empty keeps none")
	fs.Func("plugin-privileged",
		"let the go-plugin `NAME` of --plugin-dir run as gadgetd's user with its capabilities; repeatable. "+
			"The others run as nobody (65534) without capabilities, with no_new_privs and an empty environment",
		func(name string) error {
			if name == "" || strings.ContainsAny(name, "/\x00") {
				return fmt.Errorf("%q: want the file name of a go-plugin in --plugin-dir, e.g. --plugin-privileged csv", name)
			}
			o.privileged = append(o.privileged, name)
			return nil
		})
	o.limits.register(fs)
	o.metrics.addFlags(fs)
	addDebugFlag(fs, &o.debugAddr)
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	printVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err}
	}
	if *printVersion {
		fmt.Fprintln(stdout, "gadgetd", version.Get())
		return o, errVersion
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q: gadgetd takes flags only", fs.Arg(0))}
	}
	if o.nodeName == "" {
		return o, usageError{errors.New("--node-name is empty: pass --node-name NODE or set NODE_NAME (a DaemonSet sets it from spec.nodeName)")}
	}
	if o.heartbeatInterval < time.Second || o.heartbeatInterval%time.Second != 0 {
		return o, usageError{fmt.Errorf("--heartbeat-interval %v: use whole seconds, at least 1s", o.heartbeatInterval)}
	}
	if err := o.limits.check(); err != nil {
		return o, usageError{err}
	}
	if err := o.metrics.validate(o.metricsAddr); err != nil {
		return o, err
	}
	if err := checkDebugAddr(o.debugAddr); err != nil {
		return o, err
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil || strings.ContainsAny(*level, "+-") {
		return o, usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", *level)}
	}
	return o, nil
}
