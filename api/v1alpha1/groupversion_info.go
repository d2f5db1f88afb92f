// Package v1alpha1 is the v1alpha1 version of the gadget.kinvolk.io API:
// the Trace custom resource that asks the node agent on one node to run a
// gadget.
//
// +kubebuilder:object:generate=true
// +groupName=gadget.kinvolk.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of this API.
var GroupVersion = schema.GroupVersion{Group: "gadget.kinvolk.io", Version: "v1alpha1"}

// schemeBuilder collects the functions that add this API's types to a
// scheme.
var schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

// AddToScheme adds the Trace types of this version to scheme, e.g. the
// scheme of a controller-runtime manager or client.
var AddToScheme = schemeBuilder.AddToScheme

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &Trace{}, &TraceList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
