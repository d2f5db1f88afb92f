package format

import (
	"fmt"
	"io"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/advise"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// renderNetworkPolicy writes the NetworkPolicies advised for edges.
func renderNetworkPolicy(w io.Writer, edges []types.Event) error {
	out, err := advise.Advise(edges).YAML()
	if err != nil {
		return fmt.Errorf("advise network policies: %w", err)
	}
	_, err = w.Write(out)
	return err
}

// renderCiliumNetworkPolicy writes the CiliumNetworkPolicies advised for
// edges.
func renderCiliumNetworkPolicy(w io.Writer, edges []types.Event) error {
	out, err := advise.AdviseCilium(edges).YAML()
	if err != nil {
		return fmt.Errorf("advise cilium network policies: %w", err)
	}
	_, err = w.Write(out)
	return err
}
