// Package eventtypes holds the base event that every gadget event embeds:
// where the event comes from (node, namespace, pod, container) and what kind
// of event it is (a normal record, or a warning or error about the trace).
package eventtypes

// EventType tells a normal record apart from a message about the trace.
type EventType string

const (
	// NORMAL is a regular record produced by a gadget.
	NORMAL EventType = "normal"
	// WARN reports a condition the user should know about, such as dropped
	// records; the trace goes on.
	WARN EventType = "warn"
	// ERR reports a failure of the trace or of part of it.
	ERR EventType = "err"
)

// Event is the part common to the events of every gadget.
type Event struct {
	// Type is normal for records, warn or err for messages about the trace.
	Type EventType `json:"type,omitempty"`
	// Message is the text of a warn or err event.
	Message string `json:"message,omitempty"`

	// Node is the name of the node (or host) the event was seen on.
	Node string `json:"node,omitempty"`
	// Namespace is the Kubernetes namespace of the pod, empty locally.
	Namespace string `json:"namespace,omitempty"`
	// Pod is the pod name, or locally the netns name or <comm>-<pid>.
	Pod string `json:"pod,omitempty"`
	// Container is the container name, when known.
	Container string `json:"container,omitempty"`
}

// Warn returns a warn event for node with the given message.
func Warn(node, msg string) Event {
	return Event{Type: WARN, Node: node, Message: msg}
}

// Err returns an err event for node with the given message.
func Err(node, msg string) Event {
	return Event{Type: ERR, Node: node, Message: msg}
}
