package conformance

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/thinraft/thinraft/dm"
)

// Assertion commands: status, table, info, list, size. Every key=value
// argument is checked; values may be numbers, `prev` (the same field in the
// previous status of that device in this case), prev+N / prev-N, or the name
// of another numeric field of the same line (data_used<=data_total).

var poolKeys = map[string]bool{
	"txn": true, "meta_used": true, "meta_total": true, "data_used": true, "data_total": true,
	"free_data": true, "held": true, "mode": true, "discard": true, "nospace": true,
	"needs_check": true, "meta_lwm": true,
}

var thinKeys = map[string]bool{"mapped": true, "highest": true}

func checkStatusArgs(c Cmd) error {
	all := map[string]bool{}
	for k := range poolKeys {
		all[k] = true
	}
	for k := range thinKeys {
		all[k] = true
	}
	return checkAssertions(all, c.Args[1:])
}

// status NAME ASSERTION...
func cmdStatus(r *runner, c Cmd) error {
	name := c.Args[0]
	ctx, cancel := r.ctx()
	defer cancel()
	lines, err := r.ctl.Status(ctx, r.dmName(name), dm.StatusOptions{})
	if err != nil {
		return op(err)
	}
	if len(lines) != 1 {
		return fmt.Errorf("status: want one target, got %d: %+v", len(lines), lines)
	}
	switch lines[0].Type {
	case dm.TargetThinPool:
		st, err := dm.ParsePoolStatus(lines[0].Params)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		prev, hasPrev := r.prevPool[name]
		r.prevPool[name] = st
		return checkPool(st, prev, hasPrev, c.Args[1:], lines[0].Params)
	case dm.TargetThin:
		st, err := dm.ParseThinStatus(lines[0].Params)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		prev, hasPrev := r.prevThin[name]
		r.prevThin[name] = st
		return checkThin(st, prev, hasPrev, c.Args[1:], lines[0].Params)
	default:
		if len(c.Args) > 1 {
			return fmt.Errorf("status: no assertions known for target %q", lines[0].Type)
		}
		return nil
	}
}

func poolNums(s dm.PoolStatus) map[string]uint64 {
	return map[string]uint64{
		"txn": s.TransactionID, "meta_used": s.UsedMetaBlocks, "meta_total": s.TotalMetaBlocks,
		"data_used": s.UsedDataBlocks, "data_total": s.TotalDataBlocks,
		"free_data": s.TotalDataBlocks - s.UsedDataBlocks, "meta_lwm": s.MetaLowWater,
	}
}

func checkPool(st, prev dm.PoolStatus, hasPrev bool, args []string, line string) error {
	nums, prevNums := poolNums(st), poolNums(prev)
	var fails []string
	for _, a := range args {
		as, _ := parseAssertion(a)
		var err error
		switch as.key {
		case "held":
			got := "-"
			if st.HasHeldRoot {
				got = strconv.FormatUint(st.HeldRoot, 10)
			}
			want := as.val
			switch want {
			case "set":
				if st.HasHeldRoot != (as.op == "=") {
					err = fmt.Errorf("held%sset: got %s", as.op, got)
				}
				want = ""
			case "prev":
				if !hasPrev {
					err = fmt.Errorf("held: no previous status")
				}
				want = "-"
				if prev.HasHeldRoot {
					want = strconv.FormatUint(prev.HeldRoot, 10)
				}
			}
			if err == nil && want != "" {
				err = compareStr("held", as.op, got, want)
			}
		case "mode":
			err = compareStr(as.key, as.op, string(st.Mode), as.val)
		case "discard":
			err = compareStr(as.key, as.op, string(st.Discard), as.val)
		case "nospace":
			got := "queue"
			if st.ErrorIfNoSpace {
				got = "error"
			}
			err = compareStr(as.key, as.op, got, as.val)
		case "needs_check":
			got := "-"
			if st.NeedsCheck {
				got = "needs_check"
			}
			want := as.val
			if want == "yes" {
				want = "needs_check"
			} else if want == "no" {
				want = "-"
			}
			err = compareStr(as.key, as.op, got, want)
		default:
			err = compareNum(as, nums[as.key], nums, prevNums, hasPrev, parsePlainUint)
		}
		if err != nil {
			fails = append(fails, err.Error())
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("pool status %q: %s", strings.TrimSpace(line), strings.Join(fails, "; "))
	}
	return nil
}

func checkThin(st, prev dm.ThinStatus, hasPrev bool, args []string, line string) error {
	var fails []string
	nums := map[string]uint64{"mapped": st.MappedSectors, "highest": st.HighestMapped}
	prevNums := map[string]uint64{"mapped": prev.MappedSectors, "highest": prev.HighestMapped}
	for _, a := range args {
		as, _ := parseAssertion(a)
		if !thinKeys[as.key] {
			fails = append(fails, fmt.Sprintf("%s is not a thin status field", as.key))
			continue
		}
		var err error
		switch {
		case as.key == "highest" && as.val == "-":
			if st.HasMapped == (as.op == "=") {
				err = fmt.Errorf("highest%s-: got %d", as.op, st.HighestMapped)
			}
		case as.key == "highest" && !st.HasMapped:
			err = fmt.Errorf("highest: nothing mapped, want %s%s", as.op, as.val)
		default:
			err = compareNum(as, nums[as.key], nums, prevNums, hasPrev, parseSectorsUint)
		}
		if err != nil {
			fails = append(fails, err.Error())
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("thin status %q: %s", strings.TrimSpace(line), strings.Join(fails, "; "))
	}
	return nil
}

func parsePlainUint(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }

func parseSectorsUint(s string) (uint64, error) { return ParseSectors(s) }

// compareNum evaluates "key OP value" where value is a number, a field of
// the same line, prev, prev+N or prev-N.
func compareNum(as assertion, got uint64, same, prev map[string]uint64, hasPrev bool, parse func(string) (uint64, error)) error {
	var want uint64
	v := as.val
	switch {
	case strings.HasPrefix(v, "prev"):
		if !hasPrev {
			return fmt.Errorf("%s: no previous status to compare with", as.key)
		}
		want = prev[as.key]
		if rest := v[4:]; rest != "" {
			n, err := parse(rest[1:])
			if err != nil || (rest[0] != '+' && rest[0] != '-') {
				return fmt.Errorf("%s: bad value %q", as.key, v)
			}
			if rest[0] == '+' {
				want += n
			} else {
				want -= n
			}
		}
	default:
		if f, ok := same[v]; ok {
			want = f
			break
		}
		n, err := parse(v)
		if err != nil {
			return fmt.Errorf("%s: bad value %q", as.key, v)
		}
		want = n
	}
	ok := false
	switch as.op {
	case "=":
		ok = got == want
	case "!=":
		ok = got != want
	case "<":
		ok = got < want
	case "<=":
		ok = got <= want
	case ">":
		ok = got > want
	case ">=":
		ok = got >= want
	}
	if !ok {
		return fmt.Errorf("%s=%d, want %s%s (%d)", as.key, got, as.op, v, want)
	}
	return nil
}

func compareStr(key, op, got, want string) error {
	switch op {
	case "=":
		if got == want {
			return nil
		}
	case "!=":
		if got != want {
			return nil
		}
	default:
		return fmt.Errorf("%s: operator %s not defined for words", key, op)
	}
	return fmt.Errorf("%s=%s, want %s%s", key, got, op, want)
}

var tableKeys = map[string]bool{
	"type": true, "len": true, "targets": true, "chunk": true, "lwm": true, "features": true, "id": true,
}

func checkTableArgs(c Cmd) error {
	args := c.Args[1:]
	if len(args) > 0 && args[0] == "inactive" {
		args = args[1:]
	}
	return checkAssertions(tableKeys, args)
}

// table NAME [inactive] ASSERTION...
//
// Keys: type, len (sectors), targets; thin-pool: chunk (sectors), lwm,
// features (comma-separated in table order, - for none); thin: id.
func cmdTable(r *runner, c Cmd) error {
	args := c.Args[1:]
	opts := dm.TableOptions{}
	if len(args) > 0 && args[0] == "inactive" {
		opts.Inactive = true
		args = args[1:]
	}
	ctx, cancel := r.ctx()
	defer cancel()
	tab, err := r.ctl.Table(ctx, r.dmName(c.Args[0]), opts)
	if err != nil {
		return op(err)
	}
	var fails []string
	for _, a := range args {
		as, _ := parseAssertion(a)
		got, err := tableField(tab, as.key)
		if err == nil {
			if as.key == "len" {
				var want uint64
				if want, err = ParseSectors(as.val); err == nil {
					err = compareStr(as.key, as.op, got, strconv.FormatUint(want, 10))
				}
			} else {
				err = compareStr(as.key, as.op, got, as.val)
			}
		}
		if err != nil {
			fails = append(fails, err.Error())
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("table %q: %s", tab.String(), strings.Join(fails, "; "))
	}
	return nil
}

func tableField(tab dm.Table, key string) (string, error) {
	if key == "targets" {
		return strconv.Itoa(len(tab)), nil
	}
	if len(tab) != 1 {
		return "", fmt.Errorf("%s: want a one-target table, got %d targets", key, len(tab))
	}
	tg := tab[0]
	switch key {
	case "type":
		return tg.Type, nil
	case "len":
		return strconv.FormatUint(tg.Length, 10), nil
	}
	switch tg.Type {
	case dm.TargetThinPool:
		p, err := dm.ParseThinPoolParams(tg.Params)
		if err != nil {
			return "", err
		}
		switch key {
		case "chunk":
			return strconv.FormatUint(p.DataBlockSectors, 10), nil
		case "lwm":
			return strconv.FormatUint(p.LowWaterMark, 10), nil
		case "features":
			f := strings.Fields(tg.Params)
			if len(f) <= 5 {
				return "-", nil
			}
			return strings.Join(f[5:], ","), nil
		}
	case dm.TargetThin:
		p, err := dm.ParseThinParams(tg.Params)
		if err != nil {
			return "", err
		}
		if key == "id" {
			return strconv.FormatUint(uint64(p.ID), 10), nil
		}
	}
	return "", fmt.Errorf("%s: not a field of a %s table", key, tg.Type)
}

var infoKeys = map[string]bool{
	"suspended": true, "live": true, "inactive": true, "open": true, "targets": true, "ro": true,
}

func checkInfoArgs(c Cmd) error { return checkAssertions(infoKeys, c.Args[1:]) }

// info NAME ASSERTION... (suspended live inactive ro: yes|no; open targets: numbers)
func cmdInfo(r *runner, c Cmd) error {
	ctx, cancel := r.ctx()
	defer cancel()
	info, err := r.ctl.Info(ctx, r.dmName(c.Args[0]))
	if err != nil {
		return op(err)
	}
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	got := map[string]string{
		"suspended": yn(info.Suspended), "live": yn(info.LiveTable), "inactive": yn(info.InactiveTable),
		"ro": yn(info.ReadOnly), "open": strconv.Itoa(int(info.OpenCount)),
		"targets": strconv.Itoa(int(info.TargetCount)),
	}
	var fails []string
	for _, a := range c.Args[1:] {
		as, _ := parseAssertion(a)
		var err error
		if as.key == "open" || as.key == "targets" {
			n, _ := strconv.ParseUint(got[as.key], 10, 64)
			err = compareNum(as, n, nil, nil, false, parsePlainUint)
		} else {
			err = compareStr(as.key, as.op, got[as.key], as.val)
		}
		if err != nil {
			fails = append(fails, err.Error())
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("info %+v: %s", info, strings.Join(fails, "; "))
	}
	return nil
}

// list has=A,B lacks=C: the case's devices present and absent in List.
func cmdList(r *runner, c Cmd) error {
	ctx, cancel := r.ctx()
	defer cancel()
	list, err := r.ctl.List(ctx)
	if err != nil {
		return op(err)
	}
	present := map[string]bool{}
	for i, d := range list {
		if i > 0 && list[i-1].Name >= d.Name {
			return fmt.Errorf("list not sorted by name: %q before %q", list[i-1].Name, d.Name)
		}
		present[d.Name] = true
	}
	for _, a := range c.Args {
		k, v, _ := splitKV(a)
		for _, n := range strings.Split(v, ",") {
			if present[r.dmName(n)] != (k == "has") {
				return fmt.Errorf("list: %s %s violated", k, n)
			}
		}
	}
	return nil
}

func checkListArgs(c Cmd) error {
	for _, a := range c.Args {
		k, v, ok := splitKV(a)
		if !ok || (k != "has" && k != "lacks") || v == "" {
			return fmt.Errorf("want has=A,B or lacks=A,B, got %q", a)
		}
	}
	return nil
}

// size NAME SIZE: the open device's length.
func cmdSize(r *runner, c Cmd) error {
	want, err := ParseSize(c.Args[1])
	if err != nil {
		return err
	}
	return r.withDev(c.Args[0], false, func(bd dm.BlockDevice) error {
		if got := bd.Size(); got != want {
			return fmt.Errorf("size %d bytes, want %d", got, want)
		}
		return nil
	})
}
