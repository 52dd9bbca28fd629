package conformance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/thinraft/thinraft/dm"
)

// Device commands: backing devices, pools, thin devices, raw tables and
// the device-mapper lifecycle (create, load, suspend, resume, remove).

func (r *runner) backing(name string) (Backing, error) {
	b, ok := r.backings[name]
	if !ok {
		return Backing{}, fmt.Errorf("no backing device %q in this case", name)
	}
	return b, nil
}

func (r *runner) newBacking(name string, size int64) (Backing, error) {
	if _, dup := r.backings[name]; dup {
		return Backing{}, fmt.Errorf("backing device %q exists already", name)
	}
	b, err := r.env.CreateBacking(r.prefix+name, size)
	if err != nil {
		return Backing{}, fmt.Errorf("create backing %s: %w", name, err)
	}
	r.backings[name] = b
	return b, nil
}

// backing NAME SIZE
func cmdBacking(r *runner, c Cmd) error {
	size, err := ParseSize(c.Args[1])
	if err != nil {
		return err
	}
	_, err = r.newBacking(c.Args[0], size)
	return err
}

// grow-backing NAME SIZE
func cmdGrowBacking(r *runner, c Cmd) error {
	b, err := r.backing(c.Args[0])
	if err != nil {
		return err
	}
	size, err := ParseSize(c.Args[1])
	if err != nil {
		return err
	}
	if err := r.env.GrowBacking(b, size); err != nil {
		return fmt.Errorf("grow backing %s: %w", b.Name, err)
	}
	b.Size = size
	r.backings[c.Args[0]] = b
	return nil
}

// fill-backing NAME OFF LEN pattern=X
func cmdFillBacking(r *runner, c Cmd) error {
	b, err := r.backing(c.Args[0])
	if err != nil {
		return err
	}
	off, n, err := offLen(c.Args[1], c.Args[2])
	if err != nil {
		return err
	}
	data, err := r.dataArg(c.Args[3], off, n)
	if err != nil {
		return err
	}
	return r.env.WriteBacking(b, off, data)
}

// expandTable turns "LEN TYPE PARAMS..." into a target, replacing $backing
// with the backing's table reference and @device with the env's reference
// to the case's device.
func (r *runner) expandTable(args []string) (dm.Target, error) {
	if len(args) < 2 {
		return dm.Target{}, fmt.Errorf("table: want LEN TYPE [PARAMS...]")
	}
	length, err := ParseSectors(args[0])
	if err != nil {
		return dm.Target{}, err
	}
	params := make([]string, 0, len(args)-2)
	for _, a := range args[2:] {
		switch {
		case strings.HasPrefix(a, "$"):
			b, err := r.backing(a[1:])
			if err != nil {
				return dm.Target{}, err
			}
			a = b.Ref
		case strings.HasPrefix(a, "@"):
			ctx, cancel := r.ctx()
			ref, err := r.env.DevRef(ctx, r.dmName(a[1:]))
			cancel()
			if err != nil {
				// A reference to a device that does not exist is a test
				// in its own right (the target refuses it); name it so.
				ref = "/dev/mapper/" + r.dmName(a[1:])
			}
			a = ref
		}
		params = append(params, a)
	}
	return dm.Target{Length: length, Type: args[1], Params: strings.Join(params, " ")}, nil
}

// pool NAME [meta=SIZE] [data=SIZE] [chunk=SIZE] [lwm=N] [len=SIZE] [FEATURE...]
//
// Creates (or reuses) backing devices NAME.meta and NAME.data and a
// thin-pool device over them, with the feature words in the order given.
func cmdPool(r *runner, c Cmd) error {
	name := c.Args[0]
	metaSize, dataSize := int64(4<<20), int64(64<<20)
	chunk, lwm := uint64(128), "0"
	var length uint64
	var features []string
	for _, a := range c.Args[1:] {
		k, v, ok := splitKV(a)
		if !ok {
			features = append(features, a)
			continue
		}
		var err error
		switch k {
		case "meta":
			metaSize, err = ParseSize(v)
		case "data":
			dataSize, err = ParseSize(v)
		case "chunk":
			chunk, err = ParseSectors(v)
		case "lwm":
			lwm = v
		case "len":
			length, err = ParseSectors(v)
		default:
			err = fmt.Errorf("unknown pool option %q", k)
		}
		if err != nil {
			return err
		}
	}
	meta, ok := r.backings[name+".meta"]
	if !ok {
		var err error
		if meta, err = r.newBacking(name+".meta", metaSize); err != nil {
			return err
		}
	}
	data, ok := r.backings[name+".data"]
	if !ok {
		var err error
		if data, err = r.newBacking(name+".data", dataSize); err != nil {
			return err
		}
	}
	if length == 0 {
		length = uint64(data.Size / 512)
	}
	params := fmt.Sprintf("%s %s %d %s %d", meta.Ref, data.Ref, chunk, lwm, len(features))
	if len(features) > 0 {
		params += " " + strings.Join(features, " ")
	}
	tg := dm.Target{Length: length, Type: dm.TargetThinPool, Params: params}
	r.addDevice(name)
	ctx, cancel := r.ctx()
	defer cancel()
	opts := dm.CreateOptions{Table: dm.Table{tg}}
	if _, err := r.ctl.Create(ctx, r.dmName(name), opts); err != nil {
		return op(err)
	}
	r.tables[name] = tg
	r.poolMeta[name] = name + ".meta"
	r.metaUsed[name+".meta"] = true
	return nil
}

// thin NAME POOL ID SIZE [ro]
func cmdThin(r *runner, c Cmd) error {
	name, pool, id := c.Args[0], c.Args[1], c.Args[2]
	tg, err := r.expandTable([]string{c.Args[3], dm.TargetThin, "@" + pool, id})
	if err != nil {
		return err
	}
	opts := dm.CreateOptions{Table: dm.Table{tg}}
	if len(c.Args) == 5 {
		if c.Args[4] != "ro" {
			return fmt.Errorf("want ro, got %q", c.Args[4])
		}
		opts.ReadOnly = true
	}
	r.addDevice(name)
	ctx, cancel := r.ctx()
	defer cancel()
	if _, err := r.ctl.Create(ctx, r.dmName(name), opts); err != nil {
		return op(err)
	}
	r.tables[name] = tg
	return nil
}

// create NAME [ro] [LEN TYPE PARAMS...]
func cmdCreate(r *runner, c Cmd) error {
	name, rest := c.Args[0], c.Args[1:]
	var opts dm.CreateOptions
	if len(rest) > 0 && rest[0] == "ro" {
		opts.ReadOnly = true
		rest = rest[1:]
	}
	if len(rest) > 0 {
		tg, err := r.expandTable(rest)
		if err != nil {
			return err
		}
		opts.Table = dm.Table{tg}
		if tg.Type == dm.TargetThinPool {
			r.notePool(name, tg)
		}
	}
	r.addDevice(name)
	ctx, cancel := r.ctx()
	defer cancel()
	if _, err := r.ctl.Create(ctx, r.dmName(name), opts); err != nil {
		return op(err)
	}
	if len(opts.Table) > 0 {
		r.tables[name] = opts.Table[0]
		if meta, ok := r.poolMeta[name]; ok {
			r.metaUsed[meta] = true
		}
	}
	return nil
}

// loaded records a table that a target constructor accepted: a thin-pool
// constructor formats fresh metadata, so its metadata is checked at the end.
func (r *runner) loaded(name string, tg dm.Target) {
	r.tables[name] = tg
	if tg.Type != dm.TargetThinPool {
		return
	}
	r.notePool(name, tg)
	if meta, ok := r.poolMeta[name]; ok {
		r.metaUsed[meta] = true
	}
}

// notePool records which backing a raw thin-pool table uses for metadata.
func (r *runner) notePool(name string, tg dm.Target) {
	f := strings.Fields(tg.Params)
	if len(f) == 0 {
		return
	}
	for bn, b := range r.backings {
		if b.Ref == f[0] {
			r.poolMeta[name] = bn
		}
	}
}

// load NAME LEN TYPE PARAMS...
func cmdLoad(r *runner, c Cmd) error {
	tg, err := r.expandTable(c.Args[1:])
	if err != nil {
		return err
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.ctl.Load(ctx, r.dmName(c.Args[0]), dm.Table{tg}); err != nil {
		return op(err)
	}
	r.loaded(c.Args[0], tg)
	return nil
}

// reload swaps in table tg: load, suspend, resume (dmsetup reload + resume).
func (r *runner) reload(name string, tg dm.Target) error {
	ctx, cancel := r.ctx()
	defer cancel()
	dn := r.dmName(name)
	if err := r.ctl.Load(ctx, dn, dm.Table{tg}); err != nil {
		return op(err)
	}
	r.loaded(name, tg)
	if err := r.ctl.Suspend(ctx, dn, dm.SuspendOptions{}); err != nil {
		return op(err)
	}
	return op(r.ctl.Resume(ctx, dn))
}

// reload NAME LEN TYPE PARAMS...
func cmdReload(r *runner, c Cmd) error {
	tg, err := r.expandTable(c.Args[1:])
	if err != nil {
		return err
	}
	return r.reload(c.Args[0], tg)
}

// resize-pool NAME [data=SIZE] [meta=SIZE] [len=SIZE]
//
// data= grows the data backing and sets the table length to SIZE; meta=
// grows the metadata backing; len= sets only the table length. Then the
// pool's table is reloaded (load, suspend, resume).
func cmdResizePool(r *runner, c Cmd) error {
	name := c.Args[0]
	tg, ok := r.tables[name]
	if !ok {
		return fmt.Errorf("pool %s was not created by this case", name)
	}
	for _, a := range c.Args[1:] {
		k, v, _ := splitKV(a)
		size, err := ParseSize(v)
		if err != nil {
			return err
		}
		switch k {
		case "data", "meta":
			b, err := r.backing(name + "." + k)
			if err != nil {
				return err
			}
			if size > b.Size {
				if err := r.env.GrowBacking(b, size); err != nil {
					return fmt.Errorf("grow %s: %w", b.Name, err)
				}
				b.Size = size
				r.backings[name+"."+k] = b
			}
			if k == "data" {
				tg.Length = uint64(size / 512)
			}
		case "len":
			tg.Length = uint64(size / 512)
		default:
			return fmt.Errorf("unknown resize-pool option %q", k)
		}
	}
	return r.reload(name, tg)
}

// resize-thin NAME SIZE
func cmdResizeThin(r *runner, c Cmd) error {
	tg, ok := r.tables[c.Args[0]]
	if !ok {
		return fmt.Errorf("device %s was not created by this case", c.Args[0])
	}
	n, err := ParseSectors(c.Args[1])
	if err != nil {
		return err
	}
	tg.Length = n
	return r.reload(c.Args[0], tg)
}

// suspend NAME [noflush]
func cmdSuspend(r *runner, c Cmd) error {
	opts := dm.SuspendOptions{}
	if len(c.Args) == 2 {
		if c.Args[1] != "noflush" {
			return fmt.Errorf("want noflush, got %q", c.Args[1])
		}
		opts.NoFlush = true
	}
	ctx, cancel := r.ctx()
	defer cancel()
	return op(r.ctl.Suspend(ctx, r.dmName(c.Args[0]), opts))
}

// resume NAME
func cmdResume(r *runner, c Cmd) error {
	ctx, cancel := r.ctx()
	defer cancel()
	return op(r.ctl.Resume(ctx, r.dmName(c.Args[0])))
}

// remove NAME
func cmdRemove(r *runner, c Cmd) error {
	ctx, cancel := r.ctx()
	defer cancel()
	// prev statuses survive removal on purpose: "mapped=prev" after a
	// deactivate/reactivate cycle is how persistence is asserted.
	return op(r.ctl.Remove(ctx, r.dmName(c.Args[0]), dm.RemoveOptions{}))
}

// clear NAME
func cmdClear(r *runner, c Cmd) error {
	ctx, cancel := r.ctx()
	defer cancel()
	return op(r.ctl.ClearInactive(ctx, r.dmName(c.Args[0])))
}

// msg NAME [TEXT...]
func cmdMsg(r *runner, c Cmd) error {
	ctx, cancel := r.ctx()
	defer cancel()
	_, err := r.ctl.Message(ctx, r.dmName(c.Args[0]), 0, strings.Join(c.Args[1:], " "))
	return op(err)
}

// open NAME: hold the device open until close (or the end of the case).
func cmdOpen(r *runner, c Cmd) error {
	if _, dup := r.open[c.Args[0]]; dup {
		return fmt.Errorf("%s is open already", c.Args[0])
	}
	ctx, cancel := r.ctx()
	defer cancel()
	bd, err := r.ctl.Open(ctx, r.dmName(c.Args[0]))
	if err != nil {
		return op(err)
	}
	r.open[c.Args[0]] = bd
	return nil
}

// close NAME
func cmdClose(r *runner, c Cmd) error {
	bd, ok := r.open[c.Args[0]]
	if !ok {
		return fmt.Errorf("%s is not open", c.Args[0])
	}
	delete(r.open, c.Args[0])
	return op(bd.Close())
}

func checkPoolArgs(c Cmd) error {
	for _, a := range c.Args[1:] {
		k, v, ok := splitKV(a)
		if !ok {
			continue
		}
		switch k {
		case "meta", "data", "chunk", "len":
			if _, err := ParseSize(v); err != nil {
				return err
			}
		case "lwm":
		default:
			return fmt.Errorf("unknown pool option %q", k)
		}
	}
	return nil
}

func checkSizeArg(i int) func(Cmd) error {
	return func(c Cmd) error {
		if strings.Contains(c.Args[i], "{") {
			return nil
		}
		_, err := ParseSize(c.Args[i])
		return err
	}
}

func checkThinArgs(c Cmd) error {
	if !strings.Contains(c.Args[2], "{") {
		if _, err := strconv.ParseUint(c.Args[2], 10, 64); err != nil {
			return fmt.Errorf("bad thin id %q", c.Args[2])
		}
	}
	if len(c.Args) == 5 && c.Args[4] != "ro" {
		return errors.New("the optional last argument is ro")
	}
	return checkSizeArg(3)(c)
}

func checkResizePool(c Cmd) error {
	for _, a := range c.Args[1:] {
		k, v, ok := splitKV(a)
		if !ok || (k != "data" && k != "meta" && k != "len") {
			return fmt.Errorf("want data=SIZE meta=SIZE len=SIZE, got %q", a)
		}
		if _, err := ParseSize(v); err != nil {
			return err
		}
	}
	return nil
}
