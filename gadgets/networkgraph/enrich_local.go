package networkgraph

import (
	"net/netip"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// enrichLocal classifies the remote end without Kubernetes: an address of
// another watched namespace makes it a pod (named as that namespace's
// target), anything else is other. It also fills PodIP with the watched
// namespace's first global address.
func (in *instance) enrichLocal(e *types.Event, a *attachment, remote netip.Addr) {
	if e.PodIP == "" {
		for _, addr := range a.addrs {
			if addr.IsGlobalUnicast() {
				e.PodIP = addr.String()
				break
			}
		}
	}
	if e.RemoteKind != "" {
		return
	}
	if !remote.IsLoopback() {
		for _, other := range in.byTag {
			for _, addr := range other.addrs {
				if addr == remote {
					e.RemoteKind = types.RemoteKindPod
					e.RemotePodNamespace = other.target.Namespace
					e.RemotePodName = other.target.Pod
					return
				}
			}
		}
	}
	e.RemoteKind = types.RemoteKindOther
	e.RemoteOther = remote.String()
}
