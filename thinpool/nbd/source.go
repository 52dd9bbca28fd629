package nbd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrUnknownExport is what a Source returns for a name it does not serve.
var ErrUnknownExport = errors.New("nbd: no such export")

// Source names the exports a Server offers. The handshake asks it for the
// export a client names (EXPORT_NAME, INFO, GO, meta contexts) and for the
// list NBD_OPT_LIST shows. Implementations must be safe for concurrent use.
type Source interface {
	// Lookup returns the export called name; the empty name is the default
	// export, which a source need not have. A name it does not serve is
	// ErrUnknownExport (wrapped or not).
	Lookup(ctx context.Context, name string) (*Export, error)
	// Names lists the exports' names.
	Names() []string
}

// single is the Source of a one-export server: the export under its own
// name and the default name.
type single struct{ exp *Export }

func (s single) Lookup(_ context.Context, name string) (*Export, error) {
	if name == "" || name == s.exp.Name {
		return s.exp, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownExport, name)
}

func (s single) Names() []string { return []string{s.exp.Name} }

// Set is a Source whose exports are added and removed while a server
// serves it. An export may have aliases: more names for the same export
// (they are not listed). It has no default export.
type Set struct {
	mu      sync.Mutex
	exps    map[string]*Export // by name and alias
	aliases map[*Export][]string
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{exps: map[string]*Export{}, aliases: map[*Export][]string{}}
}

// Add offers exp under its name and the aliases. A name or alias already
// taken by another export is refused, and nothing is added.
func (s *Set) Add(exp *Export, aliases ...string) error {
	if err := exp.check(); err != nil {
		return err
	}
	names := append([]string{exp.Name}, aliases...)
	for _, n := range names {
		if n == "" || !validString(n) || len(n) > maxStringLen {
			return fmt.Errorf("nbd: export alias %q is not a valid NBD string", n)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.aliases[exp]; ok {
		return fmt.Errorf("nbd: export %q is already in the set", exp.Name)
	}
	for _, n := range names {
		if _, ok := s.exps[n]; ok {
			return fmt.Errorf("nbd: export name %q is taken", n)
		}
	}
	for _, n := range names {
		s.exps[n] = exp
	}
	s.aliases[exp] = aliases
	return nil
}

// Remove takes exp out of the set (its name and aliases), so no new client
// finds it. It does not stop the export: call exp.Stop or exp.Close.
func (s *Set) Remove(exp *Export) {
	s.mu.Lock()
	defer s.mu.Unlock()
	al, ok := s.aliases[exp]
	if !ok {
		return
	}
	for _, n := range append([]string{exp.Name}, al...) {
		if s.exps[n] == exp {
			delete(s.exps, n)
		}
	}
	delete(s.aliases, exp)
}

// Get returns the export under name (or alias), if any.
func (s *Set) Get(name string) (*Export, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exps[name]
	return e, ok
}

// Lookup implements Source.
func (s *Set) Lookup(_ context.Context, name string) (*Export, error) {
	if e, ok := s.Get(name); ok {
		return e, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownExport, name)
}

// Names implements Source: the exports' names (not aliases), sorted.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.aliases))
	for e := range s.aliases {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}
