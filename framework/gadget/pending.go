package gadget

import "slices"

// PendingTargets are the targets added to an instance before it started,
// which it attaches at Start: the bookkeeping every gadget's AddTarget,
// RemoveTarget and RelabelTarget need until then. One target per ID, in
// the order added. The instance's lock guards it; the zero value is empty.
type PendingTargets struct {
	targets []Target
}

// Add keeps t, unless a target with its ID is kept already (AddTarget of
// the same ID twice attaches once).
func (p *PendingTargets) Add(t Target) {
	if p.index(t.ID) < 0 {
		p.targets = append(p.targets, t)
	}
}

// Remove forgets the target with ID id, and reports whether one was kept.
func (p *PendingTargets) Remove(id string) bool {
	i := p.index(id)
	if i < 0 {
		return false
	}
	p.targets = slices.Delete(p.targets, i, i+1)
	return true
}

// Relabel replaces the target with t's ID by t (new labels, another
// NetnsPath), and reports whether one was kept.
func (p *PendingTargets) Relabel(t Target) bool {
	i := p.index(t.ID)
	if i < 0 {
		return false
	}
	p.targets[i] = t
	return true
}

// Take returns the targets kept, in the order they were added, and
// forgets them.
func (p *PendingTargets) Take() []Target {
	t := p.targets
	p.targets = nil
	return t
}

func (p *PendingTargets) index(id string) int {
	return slices.IndexFunc(p.targets, func(t Target) bool { return t.ID == id })
}
