package metadata

// Node and VG commands. Every handler validates completely before it
// changes anything, so a refused command leaves the state as it was.

func (s *state) nodeJoin(c *applyCtx, p NodeJoin) *Result {
	if err := validateID("node id", p.ID); err != nil {
		return &Result{Err: err}
	}
	if err := validateID("node address", p.Addr); err != nil {
		return &Result{Err: err}
	}
	if p.APIAddr != "" {
		if err := validateID("node API address", p.APIAddr); err != nil {
			return &Result{Err: err}
		}
	}
	if p.NBDAddr != "" {
		if err := validateID("node NBD address", p.NBDAddr); err != nil {
			return &Result{Err: err}
		}
	}
	name := p.Name
	if name == "" {
		name = p.ID
	}
	if err := validateID("node name", name); err != nil {
		return &Result{Err: err}
	}
	if id, ok := s.nodeNames[name]; ok && id != p.ID {
		return &Result{Err: errf(CodeExists, "node name %s is taken by node %s", name, id)}
	}
	if n := s.nodes[p.ID]; n != nil {
		// A restart or a rejoin: same identity, possibly new addresses.
		delete(s.nodeNames, n.Name)
		n.Name, n.Addr, n.APIAddr, n.NBDAddr, n.Voter = name, p.Addr, p.APIAddr, p.NBDAddr, p.Voter
		if n.State != NodeUp {
			n.State, n.UpdatedAt = NodeUp, c.at
		}
		s.nodeNames[name] = n.ID
		return &Result{UUID: n.ID}
	}
	s.nodes[p.ID] = &Node{ID: p.ID, Name: name, Addr: p.Addr, APIAddr: p.APIAddr, NBDAddr: p.NBDAddr, Voter: p.Voter,
		State: NodeUp, JoinedAt: c.at, UpdatedAt: c.at}
	s.nodeNames[name] = p.ID
	return &Result{UUID: p.ID}
}

func (s *state) nodeLeave(c *applyCtx, p NodeLeave) *Result {
	n := s.nodes[p.ID]
	if n == nil {
		return &Result{Err: errf(CodeNotFound, "node %s not found", p.ID)}
	}
	if k := len(s.nodePools[p.ID]); k > 0 {
		return &Result{Err: errf(CodeConflict, "node %s owns %d pool(s); remove or move them first", p.ID, k)}
	}
	if n.State != NodeLeft {
		n.State, n.UpdatedAt = NodeLeft, c.at
	}
	return &Result{UUID: n.ID}
}

func (s *state) nodeSetState(c *applyCtx, p NodeSetState) *Result {
	n := s.nodes[p.ID]
	if n == nil {
		return &Result{Err: errf(CodeNotFound, "node %s not found", p.ID)}
	}
	if p.State != NodeUp && p.State != NodeDown {
		return &Result{Err: errf(CodeInvalid, "node state %q: want up or down (leaving is node_leave)", p.State)}
	}
	if n.State == NodeLeft {
		return &Result{Err: errf(CodeConflict, "node %s has left; it must join again", p.ID)}
	}
	if n.State != p.State {
		n.State, n.UpdatedAt = p.State, c.at
	}
	return &Result{UUID: n.ID}
}

func (s *state) vgCreate(c *applyCtx, p VGCreate) *Result {
	if err := ValidateVGName(p.Name); err != nil {
		return &Result{Err: err}
	}
	if err := validateUUID("VG", p.UUID); err != nil {
		return &Result{Err: err}
	}
	tags, err := normalizeTags(p.Tags)
	if err != nil {
		return &Result{Err: err}
	}
	if p.MaxVolumes < 0 {
		return &Result{Err: errf(CodeInvalid, "max volumes %d < 0", p.MaxVolumes)}
	}
	if _, ok := s.vgs[p.Name]; ok {
		return &Result{Err: errf(CodeExists, "VG %s already exists", p.Name)}
	}
	if _, ok := s.vgUUIDs[p.UUID]; ok {
		return &Result{Err: errf(CodeExists, "VG uuid %s already in use", p.UUID)}
	}
	s.addVG(&VG{Name: p.Name, UUID: p.UUID, CreatedAt: c.at, Tags: tags, MaxVolumes: p.MaxVolumes})
	return &Result{UUID: p.UUID}
}

func (s *state) vgRemove(_ *applyCtx, p VGRemove) *Result {
	e := s.vgs[p.Name]
	if e == nil {
		return &Result{Err: errf(CodeNotFound, "VG %s not found", p.Name)}
	}
	if e.names.len() > 0 {
		return &Result{Err: errf(CodeConflict, "VG %s still has %d pool(s) and %d volume(s)", p.Name, len(e.pools), e.volumes.len())}
	}
	delete(s.vgs, p.Name)
	delete(s.vgUUIDs, e.vg.UUID)
	return &Result{UUID: e.vg.UUID}
}

func (s *state) vgSet(_ *applyCtx, p VGSet) *Result {
	e := s.vgs[p.Name]
	if e == nil {
		return &Result{Err: errf(CodeNotFound, "VG %s not found", p.Name)}
	}
	var tags []string
	if p.Tags != nil {
		var err *Error
		if tags, err = normalizeTags(*p.Tags); err != nil {
			return &Result{Err: err}
		}
	}
	if p.MaxVolumes != nil && *p.MaxVolumes < 0 {
		return &Result{Err: errf(CodeInvalid, "max volumes %d < 0", *p.MaxVolumes)}
	}
	// As vgchange -l: a quota below the current count is refused.
	if p.MaxVolumes != nil && *p.MaxVolumes > 0 && *p.MaxVolumes < e.volumes.len() {
		return &Result{Err: errf(CodeConflict, "VG %s has %d volumes, more than %d", p.Name, e.volumes.len(), *p.MaxVolumes)}
	}
	if p.MaxVolumes != nil {
		e.vg.MaxVolumes = *p.MaxVolumes
	}
	if p.Tags != nil {
		e.vg.Tags = tags
	}
	return &Result{UUID: e.vg.UUID}
}
