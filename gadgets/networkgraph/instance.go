package networkgraph

import (
	"errors"

	"github.com/gadgetkit/gadget/framework/gadget"
)

func newInstance(cfg gadget.Config) (gadget.Instance, error) {
	return nil, errors.New("not yet")
}
