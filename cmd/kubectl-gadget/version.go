package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/internal/version"
)

// versionInfo is what kubectl gadget version reports; -o json prints it.
type versionInfo struct {
	Client clientVersion `json:"client"`
	// Deployed is false when the gadgetd DaemonSet does not exist.
	Deployed bool           `json:"deployed"`
	Agents   []agentVersion `json:"agents"`
}

type clientVersion struct {
	Version string `json:"version"`
	// Image is the gadgetd image deploy installs by default; empty in a
	// development build.
	Image string `json:"image,omitempty"`
}

// agentVersion is one gadgetd pod.
type agentVersion struct {
	Node    string `json:"node"`
	Pod     string `json:"pod"`
	Image   string `json:"image"`
	ImageID string `json:"imageID,omitempty"`
	Version string `json:"version"`
	Ready   bool   `json:"ready"`
}

func newVersionCmd(k *kubeFlags) *cobra.Command {
	var output string
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl gadget and of the gadgetd agent on each node",
		Long: "version prints the version of this kubectl-gadget and the image it deploys by default, then, for each " +
			"gadgetd pod of the cluster, its node, image, version (label app.kubernetes.io/version) and readiness.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return usagef("-o %q: use json, or leave it out for a table", output)
			}
			info := versionInfo{Client: clientVersion{Version: version.Get()}}
			info.Client.Image, _ = version.Image()
			out := cmd.OutOrStdout()
			if clientOnly {
				if output == "json" {
					return writeJSON(out, map[string]any{"client": info.Client})
				}
				printClient(out, info.Client)
				return nil
			}
			if output == "" {
				// The client's version even when the cluster cannot be reached.
				printClient(out, info.Client)
			}
			c, err := k.connect()
			if err != nil {
				return err
			}
			ds, err := daemonSet()
			if err != nil {
				return err
			}
			var live appsv1.DaemonSet
			switch err := c.ctrl.Get(cmd.Context(), client.ObjectKeyFromObject(ds), &live); {
			case apierrors.IsNotFound(err):
				return printVersion(out, output, info, output == "")
			case err != nil:
				return explain(fmt.Errorf("get DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err), "get daemonsets")
			}
			info.Deployed = true
			sel, err := metav1.LabelSelectorAsSelector(live.Spec.Selector)
			if err != nil {
				return fmt.Errorf("DaemonSet %s/%s selector: %w", ds.Namespace, ds.Name, err)
			}
			pods, err := c.typed.CoreV1().Pods(ds.Namespace).List(cmd.Context(), metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return explain(fmt.Errorf("list pods of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err), "list pods")
			}
			info.Agents = agents(pods.Items)
			return printVersion(out, output, info, output == "")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: text)")
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client's version only; do not contact the cluster")
	return cmd
}

// daemonSet is the gadgetd DaemonSet of the embedded manifests, so that
// its name, namespace and selector have a single source.
func daemonSet() (*appsv1.DaemonSet, error) {
	objs, err := manifests("")
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetKind() != "DaemonSet" {
			continue
		}
		var ds appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &ds); err != nil {
			return nil, fmt.Errorf("manifest DaemonSet %s: %w", o.GetName(), err)
		}
		return &ds, nil
	}
	return nil, fmt.Errorf("the embedded manifests hold no DaemonSet")
}

// agents reports the gadgetd pods, sorted by node then pod name.
func agents(pods []corev1.Pod) []agentVersion {
	out := make([]agentVersion, 0, len(pods))
	for _, p := range pods {
		a := agentVersion{Node: p.Spec.NodeName, Pod: p.Name, Version: p.Labels[versionLabel]}
		for _, c := range p.Spec.Containers {
			if c.Name == "gadgetd" || a.Image == "" {
				a.Image = c.Image
			}
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == "gadgetd" {
				a.ImageID = s.ImageID
			}
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				a.Ready = cond.Status == corev1.ConditionTrue
			}
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b agentVersion) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(a.Pod, b.Pod)
	})
	return out
}

func printClient(w io.Writer, c clientVersion) {
	img := c.Image
	if img == "" {
		img = "none (development build: deploy needs --image)"
	}
	fmt.Fprintf(w, "Client: kubectl-gadget %s, default gadgetd image %s\n", c.Version, img)
}

// printVersion prints info as JSON, or as text after the client line
// (already printed when clientPrinted).
func printVersion(w io.Writer, output string, info versionInfo, clientPrinted bool) error {
	if output == "json" {
		if info.Agents == nil {
			info.Agents = []agentVersion{}
		}
		return writeJSON(w, info)
	}
	if !clientPrinted {
		printClient(w, info.Client)
	}
	switch {
	case !info.Deployed && info.Client.Image == "":
		fmt.Fprintln(w, "Agents: gadget is not deployed in this cluster (no DaemonSet gadget/gadgetd); run kubectl gadget deploy --image IMAGE")
		return nil
	case !info.Deployed:
		fmt.Fprintln(w, "Agents: gadget is not deployed in this cluster (no DaemonSet gadget/gadgetd); run kubectl gadget deploy")
		return nil
	case len(info.Agents) == 0:
		fmt.Fprintln(w, "Agents: the DaemonSet gadget/gadgetd has no pods yet (no node it can run on, or still scheduling)")
		return nil
	}
	fmt.Fprintln(w, "Agents:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPOD\tIMAGE\tVERSION\tREADY")
	for _, a := range info.Agents {
		v := a.Version
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", a.Node, a.Pod, a.Image, v, a.Ready)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
