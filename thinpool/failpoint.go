package thinpool

import (
	"fmt"
	"os"
	"sync"
)

// Failpoint names a step boundary of the transaction protocol, a suspend /
// resume window or a resize step. Crash tests stop the process at each one.
// All failpoints are declared here and nowhere else.
type Failpoint string

// The failpoints, in protocol order.
const (
	// FPBeforeMessage: intent recorded, kernel untouched.
	FPBeforeMessage Failpoint = "before-message"
	// FPAfterMessage: create_thin / create_snap / delete done and committed
	// by the kernel; set_transaction_id not sent.
	FPAfterMessage Failpoint = "after-message"
	// FPAfterSetTxn: kernel at ToTxn; the record still says FromTxn.
	FPAfterSetTxn Failpoint = "after-set-transaction-id"
	// FPSnapOriginSuspended: the active origin is suspended, create_snap not
	// yet sent.
	FPSnapOriginSuspended Failpoint = "snapshot-origin-suspended"
	// FPSnapBeforeResume: create_snap done, the origin still suspended.
	FPSnapBeforeResume Failpoint = "snapshot-before-resume"
	// FPResizeAfterGrow: the backing device has grown, the pool table is not
	// reloaded.
	FPResizeAfterGrow Failpoint = "resize-after-grow"
	// FPResizeAfterLoad: the bigger table is loaded but not resumed.
	FPResizeAfterLoad Failpoint = "resize-after-load"
)

// AllFailpoints lists every failpoint in protocol order, for test matrices.
func AllFailpoints() []Failpoint {
	return []Failpoint{
		FPBeforeMessage, FPAfterMessage, FPAfterSetTxn,
		FPSnapOriginSuspended, FPSnapBeforeResume,
		FPResizeAfterGrow, FPResizeAfterLoad,
	}
}

// Failpoints holds the armed failpoints of one Pool. The zero value and a
// nil pointer have none armed. Safe for concurrent use.
type Failpoints struct {
	mu    sync.Mutex
	armed map[Failpoint]func() error
}

// Arm makes fp run action when reached; the action's error is returned
// from the operation as if the step had failed.
func (f *Failpoints) Arm(fp Failpoint, action func() error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.armed == nil {
		f.armed = map[Failpoint]func() error{}
	}
	f.armed[fp] = action
}

// ArmExit makes fp end the process at once with status code, without
// running deferred functions or flushing anything: the crash tests' "kill".
func (f *Failpoints) ArmExit(fp Failpoint, code int) {
	f.Arm(fp, func() error { os.Exit(code); return nil })
}

// ArmError makes fp fail the operation with an error naming it.
func (f *Failpoints) ArmError(fp Failpoint) {
	f.Arm(fp, func() error { return fmt.Errorf("failpoint %s", fp) })
}

// Disarm removes fp.
func (f *Failpoints) Disarm(fp Failpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.armed, fp)
}

// hit runs fp's action if armed.
func (f *Failpoints) hit(fp Failpoint) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	action := f.armed[fp]
	f.mu.Unlock()
	if action == nil {
		return nil
	}
	return action()
}
