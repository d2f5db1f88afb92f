package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/deploy"
	"github.com/gadgetkit/gadget/internal/version"
)

// fieldManager owns the fields kubectl gadget applies.
const fieldManager = "kubectl-gadget"

func newDeployCmd(k *kubeFlags) *cobra.Command {
	var image string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Install the Trace CRD, the gadget namespace, RBAC and the gadgetd DaemonSet",
		Long: "deploy applies gadget's manifests (server-side apply, so running it again updates them): the Trace CRD, " +
			"the namespace gadget, its ServiceAccount and RBAC, and the gadgetd DaemonSet that runs on every node.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.connect()
			if err != nil {
				return err
			}
			img, err := deployImage(image)
			if err != nil {
				return err
			}
			objs, err := manifests(img)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gadgetd image %s\n", img)
			opts := []client.ApplyOption{client.ForceOwnership, client.FieldOwner(fieldManager)}
			if dryRun {
				opts = append(opts, client.DryRunAll)
			}
			for _, o := range objs {
				if err := c.ctrl.Apply(cmd.Context(), client.ApplyConfigurationFromUnstructured(o), opts...); err != nil {
					return explain(fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err), "apply "+o.GetKind())
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s applied\n", o.GetKind(), o.GetName())
				if o.GetKind() == "CustomResourceDefinition" && !dryRun {
					if err := waitEstablished(cmd.Context(), c, o.GetName(), k.timeout); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	dflt := "none in a development build: give --image"
	if img, ok := version.Image(); ok {
		dflt = img
	}
	cmd.Flags().StringVar(&image, "image", "", "image of gadgetd (default: the image of this kubectl-gadget's version, "+dflt+")")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "let the API server validate everything without changing anything")
	return cmd
}

func newUndeployCmd(k *kubeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "undeploy",
		Short: "Remove every Trace, then gadgetd, its RBAC, the gadget namespace and the Trace CRD",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// Traces first, while the agents run to release them.
			var traces v1alpha1.TraceList
			switch err := c.ctrl.List(ctx, &traces); {
			case err == nil:
				for i := range traces.Items {
					if err := client.IgnoreNotFound(c.ctrl.Delete(ctx, &traces.Items[i])); err != nil {
						return explain(fmt.Errorf("delete trace %s/%s: %w", traces.Items[i].Namespace, traces.Items[i].Name, err), "delete traces")
					}
				}
				// Traces no agent is there to release go at once.
				ptrs := make([]*v1alpha1.Trace, len(traces.Items))
				for i := range traces.Items {
					ptrs[i] = &traces.Items[i]
				}
				if err := releaseOrphans(ctx, c, ptrs, cmd.ErrOrStderr()); err != nil {
					return err
				}
				if err := waitTracesGone(ctx, c, k.timeout, cmd.ErrOrStderr()); err != nil {
					return err
				}
			case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
			default:
				return explain(fmt.Errorf("list traces: %w", err), "list traces")
			}
			objs, err := manifests("")
			if err != nil {
				return err
			}
			for i := len(objs) - 1; i >= 0; i-- {
				o := objs[i]
				err := c.ctrl.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground))
				if err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
					return explain(fmt.Errorf("delete %s %s: %w", o.GetKind(), o.GetName(), err), "delete "+o.GetKind())
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", o.GetKind(), o.GetName())
			}
			return nil
		},
	}
}

// deployImage is the gadgetd image deploy installs: flag when set, else
// the image of this build's version. A development build has none.
func deployImage(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if img, ok := version.Image(); ok {
		return img, nil
	}
	return "", usagef("this kubectl-gadget is a development build (version %s) with no gadgetd image of its own: "+
		"pass --image REGISTRY/gadgetd:TAG (make image builds one), or build kubectl-gadget with make dist", version.Get())
}

// manifests decodes the embedded manifests, in apply order. When image is
// set, the DaemonSet runs it and carries its version label.
func manifests(image string) ([]*unstructured.Unstructured, error) {
	files, err := deploy.Manifests()
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(f.Data), 4096)
		for {
			var o unstructured.Unstructured
			if err := dec.Decode(&o.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("manifest %s: %w", f.Name, err)
			}
			if len(o.Object) == 0 {
				continue
			}
			if image != "" && o.GetKind() == "DaemonSet" {
				if err := setImage(&o, image, imageVersion(image)); err != nil {
					return nil, fmt.Errorf("manifest %s: %w", f.Name, err)
				}
			}
			out = append(out, &o)
		}
	}
	return out, nil
}

// versionLabel is the label that tells the version of gadgetd.
const versionLabel = "app.kubernetes.io/version"

// imageVersion is the version of gadgetd an image reference runs: its
// tag, the version of kubectl-gadget for its own image. It is empty when
// the reference has no tag usable as a label value (a digest, say).
func imageVersion(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	tag := ref[i+1:]
	if len(validation.IsValidLabelValue(tag)) > 0 {
		return ""
	}
	return tag
}

// setImage sets the image of every container of a DaemonSet and, when
// ver is not empty, the version label of the DaemonSet and its pods (the
// selector does not use it, so an update may change it).
func setImage(o *unstructured.Unstructured, image, ver string) error {
	for _, fields := range [][]string{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}} {
		labels, _, err := unstructured.NestedStringMap(o.Object, fields...)
		if err != nil {
			return fmt.Errorf("DaemonSet %s labels: %w", o.GetName(), err)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		delete(labels, versionLabel)
		if ver != "" {
			labels[versionLabel] = ver
		}
		if err := unstructured.SetNestedStringMap(o.Object, labels, fields...); err != nil {
			return fmt.Errorf("DaemonSet %s labels: %w", o.GetName(), err)
		}
	}
	containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return fmt.Errorf("DaemonSet %s containers: %w", o.GetName(), err)
	}
	for i := range containers {
		c, ok := containers[i].(map[string]any)
		if !ok {
			return fmt.Errorf("DaemonSet %s: container %d is not an object", o.GetName(), i)
		}
		c["image"] = image
	}
	return unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
}

// waitEstablished waits until the CRD name is established.
func waitEstablished(ctx context.Context, c *clients, name string, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var crd unstructured.Unstructured
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := c.ctrl.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established within %v: %w", name, timeout, err)
	}
	return nil
}

// waitTracesGone waits for the deleted traces to go; the agents remove
// their finalizers. Traces still there after timeout (no agent on their
// node) lose their finalizer so that undeploy can finish; each is named.
func waitTracesGone(ctx context.Context, c *clients, timeout time.Duration, stderr io.Writer) error {
	var left v1alpha1.TraceList
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.ctrl.List(ctx, &left); err != nil {
			return false, nil
		}
		return len(left.Items) == 0, nil
	})
	for i := range left.Items {
		tr := &left.Items[i]
		fmt.Fprintf(stderr, "warning: trace %s/%s was not released by the agent on node %q within %v; removing its finalizers\n",
			tr.Namespace, tr.Name, tr.Spec.Node, timeout)
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`))
		if err := client.IgnoreNotFound(c.ctrl.Patch(ctx, tr, patch)); err != nil {
			return explain(fmt.Errorf("remove finalizers of trace %s/%s: %w", tr.Namespace, tr.Name, err), "patch traces")
		}
	}
	return nil
}
