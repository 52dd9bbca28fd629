package main

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The volume namespace is split into families: an origin name and a few
// snapshot names that only ever snapshot that origin. Every operation
// touches one family, so porcupine can check each family on its own
// (Partition) and the search stays small however long the history is.
const linSnapsPerFamily = 3

// linKind is an operation of the workload.
type linKind uint8

const (
	linCreate linKind = iota
	linSnapshot
	linExtend
	linDelete
	linRead
)

func (k linKind) String() string {
	return [...]string{"create", "snapshot", "extend", "delete", "read"}[k]
}

// linInput is one call. Slot 0 of a family is its origin, slots 1.. its
// snapshots; a snapshot call creates slot Slot from the origin (slot 0).
type linInput struct {
	Kind   linKind
	Family int
	Slot   int
	UUID   string // create and snapshot: chosen by the test, so reads can be matched
	Size   uint64 // create and extend
}

// linOutcome classifies an answer.
type linOutcome uint8

const (
	linOK linOutcome = iota
	linErr
	// linUnknown: outcome_unknown, a timeout or a lost connection. The op
	// also returns at infinity in the history, so "never applied" is
	// covered by ordering it last.
	linUnknown
)

// linOutput is an answer. For reads that found the volume, Found and the
// volume's fields; Code is the API error code when Outcome is linErr.
type linOutput struct {
	Outcome  linOutcome
	Code     string
	Found    bool
	UUID     string
	Size     uint64
	Origin   string
	Deleting bool
}

// linPhase is a name's state in the record.
type linPhase uint8

const (
	linAbsent linPhase = iota
	linLive            // creating, active or failed: the record exists and is not being deleted
	// linDeleting: the delete was committed; the agent removes the record
	// when the kernel delete completes, which the history does not show,
	// so the step branches into "still deleting" and "gone".
	linDeleting
)

type linEntry struct {
	Phase  linPhase
	UUID   string
	Size   uint64
	Origin string
}

// linState is one family's names; an array so that states compare with ==.
type linState [1 + linSnapsPerFamily]linEntry

// linModel is the porcupine model of the namespace, nondeterministic only
// because of the invisible deleting -> gone step.
func linModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			by := map[int][]porcupine.Operation{}
			var order []int
			for _, op := range h {
				f := op.Input.(linInput).Family
				if _, ok := by[f]; !ok {
					order = append(order, f)
				}
				by[f] = append(by[f], op)
			}
			out := make([][]porcupine.Operation, 0, len(order))
			for _, f := range order {
				out = append(out, by[f])
			}
			return out
		},
		Init: func() []interface{} { return []interface{}{linState{}} },
		Step: func(st, in, out interface{}) []interface{} {
			return linStep(st.(linState), in.(linInput), out.(linOutput))
		},
		Equal: func(a, b interface{}) bool { return a.(linState) == b.(linState) },
		DescribeOperation: func(in, out interface{}) string {
			i, o := in.(linInput), out.(linOutput)
			var b strings.Builder
			fmt.Fprintf(&b, "%s f%d/%d", i.Kind, i.Family, i.Slot)
			if i.UUID != "" {
				fmt.Fprintf(&b, " %.8s", i.UUID)
			}
			if i.Size != 0 {
				fmt.Fprintf(&b, " %dM", i.Size>>20)
			}
			switch o.Outcome {
			case linOK:
				b.WriteString(" -> ok")
				if i.Kind == linRead {
					fmt.Fprintf(&b, " found=%v %.8s %dM origin=%.8s deleting=%v", o.Found, o.UUID, o.Size>>20, o.Origin, o.Deleting)
				}
			case linErr:
				b.WriteString(" -> " + o.Code)
			default:
				b.WriteString(" -> unknown")
			}
			return b.String()
		},
		DescribeState: func(s interface{}) string { return fmt.Sprintf("%+v", s.(linState)) },
	}
	return nm.ToModel()
}

// linStep expands every deleting name the op touches into its two
// possibilities, then steps each deterministically.
func linStep(s linState, in linInput, out linOutput) []interface{} {
	variants := []linState{s}
	touch := []int{in.Slot}
	if in.Kind == linSnapshot {
		touch = append(touch, 0)
	}
	for _, i := range touch {
		var more []linState
		for _, v := range variants {
			if v[i].Phase == linDeleting {
				gone := v
				gone[i] = linEntry{}
				more = append(more, gone)
			}
		}
		variants = append(variants, more...)
	}
	var next []interface{}
	for _, v := range variants {
		next = append(next, linStepExact(v, in, out)...)
	}
	return next
}

// linStepExact steps a state whose deleting names are known to still be
// deleting. Where the record's own order of checks decides which of
// several errors comes first, any of them is accepted; an error never
// changes the state.
func linStepExact(s linState, in linInput, out linOutput) []interface{} {
	e := s[in.Slot]
	var errs []string
	var okNext *linState
	succeed := func(n linState) { okNext = &n }
	switch in.Kind {
	case linCreate:
		if e.Phase != linAbsent {
			errs = append(errs, "exists")
		} else {
			n := s
			n[in.Slot] = linEntry{Phase: linLive, UUID: in.UUID, Size: in.Size}
			succeed(n)
		}
	case linSnapshot:
		o := s[0]
		switch o.Phase {
		case linAbsent:
			errs = append(errs, "not_found")
		case linDeleting:
			errs = append(errs, "conflict")
		case linLive:
			errs = append(errs, "conflict") // a failed origin
		}
		if e.Phase != linAbsent {
			errs = append(errs, "exists")
		}
		if o.Phase == linLive && e.Phase == linAbsent {
			n := s
			n[in.Slot] = linEntry{Phase: linLive, UUID: in.UUID, Size: o.Size, Origin: o.UUID}
			succeed(n)
		}
	case linExtend:
		switch e.Phase {
		case linAbsent:
			errs = append(errs, "not_found")
		case linDeleting:
			errs = append(errs, "conflict")
		case linLive:
			errs = append(errs, "conflict") // a failed volume
			if in.Size <= e.Size {
				errs = append(errs, "invalid")
			} else {
				n := s
				n[in.Slot].Size = in.Size
				succeed(n)
			}
		}
	case linDelete:
		switch e.Phase {
		case linAbsent:
			errs = append(errs, "not_found")
		case linDeleting:
			errs = append(errs, "conflict")
		case linLive:
			errs = append(errs, "conflict") // still creating
			n := s
			n[in.Slot].Phase = linDeleting
			succeed(n)
		}
	case linRead:
		switch out.Outcome {
		case linUnknown:
			return []interface{}{s}
		case linErr:
			if (out.Code == "not_found" && e.Phase == linAbsent) || out.Code == "unavailable" || out.Code == "not_leader" {
				return []interface{}{s}
			}
			return nil
		}
		if !out.Found {
			return nil
		}
		if e.Phase == linAbsent || out.UUID != e.UUID || out.Size != e.Size || out.Origin != e.Origin ||
			out.Deleting != (e.Phase == linDeleting) {
			return nil
		}
		return []interface{}{s}
	}
	switch out.Outcome {
	case linUnknown:
		if okNext != nil {
			return []interface{}{*okNext, s}
		}
		return []interface{}{s}
	case linOK:
		if okNext != nil {
			return []interface{}{*okNext}
		}
		return nil
	}
	// Neither is an answer about the name: a pool whose node is down, or
	// no leader within the client's retry time (nothing applied).
	if out.Code == "unavailable" || out.Code == "not_leader" {
		return []interface{}{s}
	}
	for _, c := range errs {
		if c == out.Code {
			return []interface{}{s}
		}
	}
	return nil
}
