package thinpool

import (
	"context"
	"fmt"
	"time"

	"github.com/thinraft/thinraft/dm"
)

// measureRaw times the kernel work inside one thinraft create, without the
// protocol around it: create_thin + set_transaction_id messages, and a thin
// device's activation (create + load + resume) and removal. It is the floor
// the protocol's overhead is judged against.
func measureRaw(ctx context.Context, ctl dm.Control, pool string, n int, base uint32, txn uint64) ([]Rate, error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		id := base + uint32(i)
		if _, err := ctl.Message(ctx, pool, 0, dm.CreateThinMsg(id)); err != nil {
			return nil, err
		}
		if _, err := ctl.Message(ctx, pool, 0, dm.SetTransactionIDMsg(txn, txn+1)); err != nil {
			return nil, err
		}
		txn++
	}
	msgs := newRate("raw-create-thin+set-txn", n, time.Since(start))
	start = time.Now()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-raw-%d", pool, i)
		table := dm.Table{dm.ThinParams{PoolDev: "/dev/mapper/" + pool, ID: base + uint32(i)}.Target(2048)}
		if _, err := ctl.Create(ctx, name, dm.CreateOptions{Table: table}); err != nil {
			return nil, err
		}
		if err := ctl.Remove(ctx, name, dm.RemoveOptions{}); err != nil {
			return nil, err
		}
	}
	act := newRate("raw-activate+remove", n, time.Since(start))
	start = time.Now()
	for i := 0; i < n; i++ {
		if _, err := ctl.Status(ctx, pool, dm.StatusOptions{NoFlush: true}); err != nil {
			return nil, err
		}
	}
	st := newRate("raw-status-noflush", n, time.Since(start))
	return []Rate{msgs, act, st}, nil
}
