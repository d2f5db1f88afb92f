package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OperationAnnotation is the annotation a user sets on a Trace to ask for
// one of its gadget's operations, e.g. start or stop. The node agent
// removes it once the operation is handled and writes the result to the
// status.
const OperationAnnotation = "gadget.kinvolk.io/operation"

// NodeField is the field selector a node agent lists and watches its own
// Traces with, e.g. spec.node=worker-1 (the CRD declares it selectable).
const NodeField = "spec.node"

// AgentFinalizer is the finalizer the node agent puts on every Trace of
// its node, so that deleting the Trace first stops its gadget. A Trace
// whose agent is gone (AgentReady not True) may lose it safely: the
// agent's kernel objects went with its process.
const AgentFinalizer = "gadget.kinvolk.io/node-agent"

// ScopePolicyName is the name of the ValidatingAdmissionPolicy and of its
// binding (deploy/admission.yaml) that let a user create or widen a Trace
// only for pods the user may list. The node agent runs no Trace unless both
// are in force.
const ScopePolicyName = "gadget-trace-scope"

// RunMode says when a trace starts.
// +kubebuilder:validation:Enum=Auto;Manual
type RunMode string

// The run modes.
const (
	// RunModeAuto starts the trace as soon as it is created.
	RunModeAuto RunMode = "Auto"
	// RunModeManual waits for an operation annotation.
	RunModeManual RunMode = "Manual"
)

// OutputMode says how the results of a trace reach the user.
// +kubebuilder:validation:Enum=Status;Stream;File;ExternalResource
type OutputMode string

// The output modes; a gadget declares the ones it supports.
const (
	// OutputModeStatus stores the bounded final result in status.output.
	OutputModeStatus OutputMode = "Status"
	// OutputModeStream delivers the events continuously while the trace runs.
	OutputModeStream OutputMode = "Stream"
	// OutputModeFile writes the results to the file named by spec.output on
	// the node.
	OutputModeFile OutputMode = "File"
	// OutputModeExternalResource writes the results to the resource named by
	// spec.output.
	OutputModeExternalResource OutputMode = "ExternalResource"
)

// TraceState is where a trace is in its lifecycle.
// +kubebuilder:validation:Enum=Started;Stopped;Completed
type TraceState string

// The trace states.
const (
	// TraceStateStarted means the gadget runs.
	TraceStateStarted TraceState = "Started"
	// TraceStateStopped means the gadget does not run (yet, or any more).
	TraceStateStopped TraceState = "Stopped"
	// TraceStateCompleted means the gadget finished on its own.
	TraceStateCompleted TraceState = "Completed"
)

// TraceFilter selects the pods a trace watches. Empty fields match every
// pod on the node.
type TraceFilter struct {
	// Namespace is the namespace of the pods to watch.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Podname is the name of the one pod to watch.
	// +optional
	Podname string `json:"podname,omitempty"`
	// Labels are labels the pods must all carry.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// ContainerName is the name of the container to watch in each pod.
	// +optional
	ContainerName string `json:"containerName,omitempty"`
}

// TraceSpec is what the user asks of a trace.
type TraceSpec struct {
	// Node is the name of the node whose agent runs the trace. Required:
	// a Trace runs on exactly one node (kubectl gadget creates one per
	// node).
	// +kubebuilder:validation:MinLength=1
	// +required
	Node string `json:"node"`
	// Gadget is the registered name of the gadget to run, e.g. network-graph.
	// +kubebuilder:validation:MinLength=1
	// +required
	Gadget string `json:"gadget"`
	// Filter selects the pods to watch.
	// +optional
	Filter *TraceFilter `json:"filter,omitempty"`
	// RunMode is Auto to start on creation or Manual to wait for the
	// gadget.kinvolk.io/operation annotation.
	// +kubebuilder:default=Manual
	// +optional
	RunMode RunMode `json:"runMode,omitempty"`
	// OutputMode is how the results reach the user; empty means the
	// gadget's first declared output mode.
	// +optional
	OutputMode OutputMode `json:"outputMode,omitempty"`
	// Output names the destination of the File and ExternalResource output
	// modes.
	// +optional
	Output string `json:"output,omitempty"`
	// Parameters are the gadget's parameters, e.g. interval; each gadget
	// documents the ones it accepts.
	// +optional
	Parameters map[string]string `json:"parameters,omitempty"`
}

// TraceStatus is what the node agent reports about a trace.
type TraceStatus struct {
	// State is where the trace is in its lifecycle.
	// +optional
	State TraceState `json:"state,omitempty"`
	// Output is the result of the trace in the Status output mode, bounded
	// in size.
	// +optional
	Output string `json:"output,omitempty"`
	// OperationError is why the last operation failed; empty when it
	// succeeded.
	// +optional
	OperationError string `json:"operationError,omitempty"`
	// OperationWarning is what the user should know about the last
	// operation that succeeded, e.g. a truncated output.
	// +optional
	OperationWarning string `json:"operationWarning,omitempty"`
	// StreamToken is the capability a reader of this trace's stream (the
	// Stream output mode) sends to the node agent, in the
	// X-Gadget-Stream-Token header; the agent serves the stream to no one
	// else. It lives in the status on purpose: whoever may get this Trace
	// may read its stream, exactly the principals who may already read
	// status.output. The agent makes a new random token (256 bits,
	// base64url) each time it starts the trace, including when it resumes
	// it after a restart, so a token stops working when its run ends.
	// Empty when the trace has not started in the Stream output mode.
	// +optional
	StreamToken string `json:"streamToken,omitempty"`
	// Conditions are the observations of the node agent about the trace;
	// the one condition so far is AgentReady, the agent's liveness: the
	// agent renews its lastHeartbeatTime every heartbeatIntervalSeconds,
	// and a condition not renewed for StaleHeartbeats intervals reads
	// Unknown (see AgentReady).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []TraceCondition `json:"conditions,omitempty"`
}

// ConditionType names a condition of a Trace.
type ConditionType string

// ConditionAgentReady is the condition of the node agent's liveness: True
// while the agent on spec.node runs and renews it, False when the agent
// stopped on purpose, Unknown (computed by readers, see AgentReady) when
// it stopped renewing it.
const ConditionAgentReady ConditionType = "AgentReady"

// The reasons of the AgentReady condition.
const (
	// ReasonAgentRunning: the agent runs and renews the heartbeat.
	ReasonAgentRunning = "AgentRunning"
	// ReasonAgentStopped: the agent shut down on purpose; the next agent
	// on the node resumes the trace.
	ReasonAgentStopped = "AgentStopped"
	// ReasonHeartbeatStale: the heartbeat was not renewed in time; the
	// agent crashed, hangs, or the node is gone.
	ReasonHeartbeatStale = "HeartbeatStale"
	// ReasonNoHeartbeat: no agent has reported on the trace yet.
	ReasonNoHeartbeat = "NoHeartbeat"
)

// StaleHeartbeats is how many heartbeat intervals may pass without a
// renewal before the AgentReady condition reads Unknown.
const StaleHeartbeats = 3

// DefaultHeartbeatInterval is how often the node agent renews the
// heartbeat of each of its Traces unless configured otherwise.
const DefaultHeartbeatInterval = 30 * time.Second

// TraceCondition is one observation about a Trace, in the shape of the
// conditions of Nodes: it carries a heartbeat.
type TraceCondition struct {
	// Type is the condition's name, e.g. AgentReady.
	// +kubebuilder:validation:MinLength=1
	// +required
	Type ConditionType `json:"type"`
	// Status is True, False or Unknown.
	// +kubebuilder:validation:Enum=True;False;Unknown
	// +required
	Status metav1.ConditionStatus `json:"status"`
	// LastHeartbeatTime is when the agent last renewed the condition.
	// +optional
	LastHeartbeatTime metav1.Time `json:"lastHeartbeatTime,omitempty"`
	// HeartbeatIntervalSeconds is how often the agent renews it; the
	// condition is stale StaleHeartbeats intervals after lastHeartbeatTime.
	// +kubebuilder:validation:Minimum=1
	// +optional
	HeartbeatIntervalSeconds int32 `json:"heartbeatIntervalSeconds,omitempty"`
	// LastTransitionTime is when the status last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// Reason is a CamelCase word saying why, e.g. AgentRunning.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says it for people.
	// +optional
	Message string `json:"message,omitempty"`
}

// Trace asks the node agent on spec.node to run a gadget on the pods
// selected by spec.filter.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="Gadget",type=string,JSONPath=`.spec.gadget`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Heartbeat",type=date,JSONPath=`.status.conditions[?(@.type=="AgentReady")].lastHeartbeatTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:selectablefield:JSONPath=`.spec.node`
type Trace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the user asks.
	// +required
	Spec TraceSpec `json:"spec"`
	// Status is what the node agent reports.
	// +optional
	Status TraceStatus `json:"status,omitempty"`
}

// TraceList is a list of Traces.
//
// +kubebuilder:object:root=true
type TraceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Traces.
	Items []Trace `json:"items"`
}
