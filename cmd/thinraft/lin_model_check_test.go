package main

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
)

// linH builds a history from (client, call, return, input, output) rows;
// a return of -1 means never returned (unknown outcome).
type linRow struct {
	c        int
	call, rt int64
	in       linInput
	out      linOutput
}

func linHistory(rows []linRow) []porcupine.Operation {
	var h []porcupine.Operation
	for _, r := range rows {
		rt := r.rt
		if rt < 0 {
			rt = math.MaxInt64
		}
		h = append(h, porcupine.Operation{ClientId: r.c, Call: r.call, Return: rt, Input: r.in, Output: r.out})
	}
	return h
}

var (
	lok      = linOutput{Outcome: linOK}
	lunknown = linOutput{Outcome: linUnknown}
)

func lerr(code string) linOutput { return linOutput{Outcome: linErr, Code: code} }
func lfound(uuid string, size uint64, origin string, deleting bool) linOutput {
	return linOutput{Outcome: linOK, Found: true, UUID: uuid, Size: size, Origin: origin, Deleting: deleting}
}

func TestLinModel(t *testing.T) {
	const M = 1 << 20
	create := func(f, slot int, u string, size uint64) linInput {
		return linInput{Kind: linCreate, Family: f, Slot: slot, UUID: u, Size: size}
	}
	snap := func(f, slot int, u string) linInput {
		return linInput{Kind: linSnapshot, Family: f, Slot: slot, UUID: u}
	}
	extend := func(f, slot int, size uint64) linInput {
		return linInput{Kind: linExtend, Family: f, Slot: slot, Size: size}
	}
	del := func(f, slot int) linInput { return linInput{Kind: linDelete, Family: f, Slot: slot} }
	read := func(f, slot int) linInput { return linInput{Kind: linRead, Family: f, Slot: slot} }

	cases := []struct {
		name string
		rows []linRow
		want bool
	}{
		{"sequential create snapshot extend read", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{0, 2, 3, snap(0, 1, "s"), lok},
			{0, 4, 5, extend(0, 0, 16*M), lok},
			{0, 6, 7, read(0, 0), lfound("a", 16*M, "", false)},
			{0, 8, 9, read(0, 1), lfound("s", 8*M, "a", false)},
		}, true},
		{"stale size after an acknowledged extend", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{0, 2, 3, extend(0, 0, 16*M), lok},
			{1, 4, 5, read(0, 0), lfound("a", 8*M, "", false)},
		}, false},
		{"acknowledged create lost", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{1, 2, 3, read(0, 0), lerr("not_found")},
		}, false},
		{"two creates of one name both acknowledged", []linRow{
			{0, 0, 3, create(0, 0, "a", 8*M), lok},
			{1, 1, 4, create(0, 0, "b", 8*M), lok},
		}, false},
		{"concurrent creates: one wins, read sees it", []linRow{
			{0, 0, 3, create(0, 0, "a", 8*M), lerr("exists")},
			{1, 1, 4, create(0, 0, "b", 8*M), lok},
			{2, 5, 6, read(0, 0), lfound("b", 8*M, "", false)},
		}, true},
		{"deleting record seen, then gone, then recreated", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{0, 2, 3, del(0, 0), lok},
			{1, 4, 5, read(0, 0), lfound("a", 8*M, "", true)},
			{1, 6, 7, create(0, 0, "b", 8*M), lerr("exists")},
			{1, 8, 9, read(0, 0), lerr("not_found")},
			{0, 10, 11, create(0, 0, "c", 4*M), lok},
		}, true},
		{"gone record comes back as deleting", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{0, 2, 3, del(0, 0), lok},
			{1, 4, 5, read(0, 0), lerr("not_found")},
			{1, 6, 7, read(0, 0), lfound("a", 8*M, "", true)},
		}, false},
		{"unknown create may or may not apply", []linRow{
			{0, 0, -1, create(0, 0, "a", 8*M), lunknown},
			{1, 1, 2, read(0, 0), lerr("not_found")},
			{1, 3, 4, read(0, 0), lfound("a", 8*M, "", false)},
		}, true},
		{"unknown create cannot unapply", []linRow{
			{0, 0, -1, create(0, 0, "a", 8*M), lunknown},
			{1, 1, 2, read(0, 0), lfound("a", 8*M, "", false)},
			{1, 3, 4, read(0, 0), lerr("not_found")},
		}, false},
		{"snapshot of a missing origin", []linRow{
			{0, 0, 1, snap(0, 1, "s"), lok},
		}, false},
		{"extend must grow", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{0, 2, 3, extend(0, 0, 8*M), lerr("invalid")},
			{0, 4, 5, extend(0, 0, 4*M), lok},
		}, false},
		{"families are independent", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{1, 0, 1, create(1, 0, "b", 8*M), lok},
			{0, 2, 3, read(1, 0), lfound("b", 8*M, "", false)},
			{1, 2, 3, read(0, 0), lfound("a", 8*M, "", false)},
		}, true},
		{"wrong error code", []linRow{
			{0, 0, 1, create(0, 0, "a", 8*M), lok},
			{0, 2, 3, extend(0, 0, 16*M), lerr("not_found")},
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(linModel(), linHistory(tc.rows)); got != tc.want {
				t.Fatalf("linearizable = %v, want %v", got, tc.want)
			}
		})
	}
}
