// Package wire is the HTTP interface of the agent's streams as a client
// sees it: the path of a trace's stream, the header of its token and the
// media type. framework/streamhttp serves it; kubectl-gadget reads it
// through this package alone, without linking the agent's controller.
package wire

// PathPrefix is the path of the streams; a trace's stream is
// PathPrefix + NAMESPACE/NAME.
const PathPrefix = "/v1/streams/"

// MediaType is the media type of a stream.
const MediaType = "application/x-ndjson"

// TokenHeader is the request header that carries the trace's stream token
// (status.streamToken).
const TokenHeader = "X-Gadget-Stream-Token"
