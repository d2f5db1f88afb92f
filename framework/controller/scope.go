package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
)

// ErrScopeUnchecked is the error of a trace the agent refuses to start
// because nothing checked that its creator may see the pods it selects:
// the scope policy is not in force, or the trace is older than it.
var ErrScopeUnchecked = errors.New("the trace's scope was not authorized at admission")

var (
	policyGVK  = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicy"}
	bindingGVK = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicyBinding"}
)

// checkScope returns nil when the API server enforces the scope policy
// (v1alpha1.ScopePolicyName, deploy/admission.yaml) and enforced it when
// tr was created: the policy and its binding exist and are not being
// deleted, the binding names the policy with the Deny action, and tr is
// not older than the binding. Otherwise its error, for
// status.operationError, wraps ErrScopeUnchecked and says what to do.
// It reads with reader, uncached: two GETs per start.
func checkScope(ctx context.Context, reader client.Reader, tr *v1alpha1.Trace) error {
	get := func(gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := reader.Get(ctx, client.ObjectKey{Name: v1alpha1.ScopePolicyName}, u); err != nil {
			return nil, err
		}
		return u, nil
	}
	missing := func(what string) error {
		return fmt.Errorf("%w: the %s %s is missing, so nothing checks that the creator of a Trace may list the pods of its spec.filter; "+
			"gadgetd runs no trace without it: apply deploy/admission.yaml (kubectl gadget deploy does)",
			ErrScopeUnchecked, what, v1alpha1.ScopePolicyName)
	}
	policy, err := get(policyGVK)
	if apierrors.IsNotFound(err) {
		return missing("ValidatingAdmissionPolicy")
	}
	if err != nil {
		return fmt.Errorf("read the ValidatingAdmissionPolicy %s: %w", v1alpha1.ScopePolicyName, err)
	}
	binding, err := get(bindingGVK)
	if apierrors.IsNotFound(err) {
		return missing("ValidatingAdmissionPolicyBinding")
	}
	if err != nil {
		return fmt.Errorf("read the ValidatingAdmissionPolicyBinding %s: %w", v1alpha1.ScopePolicyName, err)
	}
	if policy.GetDeletionTimestamp() != nil || binding.GetDeletionTimestamp() != nil {
		return fmt.Errorf("%w: the scope policy %s is being deleted: apply deploy/admission.yaml again (kubectl gadget deploy)",
			ErrScopeUnchecked, v1alpha1.ScopePolicyName)
	}
	name, _, _ := unstructured.NestedString(binding.Object, "spec", "policyName")
	actions, _, _ := unstructured.NestedStringSlice(binding.Object, "spec", "validationActions")
	if name != v1alpha1.ScopePolicyName || !slices.Contains(actions, "Deny") {
		return fmt.Errorf("%w: the ValidatingAdmissionPolicyBinding %s has policyName %q and validationActions %v, "+
			"want %q and Deny: apply deploy/admission.yaml again (kubectl gadget deploy)",
			ErrScopeUnchecked, v1alpha1.ScopePolicyName, name, actions, v1alpha1.ScopePolicyName)
	}
	if since := binding.GetCreationTimestamp(); tr.CreationTimestamp.Before(&since) {
		return fmt.Errorf("%w: this Trace was created at %s, before the scope policy %s was in force (%s), "+
			"so no one checked that its creator may list the pods of spec.filter: delete it and create it again",
			ErrScopeUnchecked, tr.CreationTimestamp.UTC().Format(time.RFC3339), v1alpha1.ScopePolicyName,
			since.UTC().Format(time.RFC3339))
	}
	return nil
}
