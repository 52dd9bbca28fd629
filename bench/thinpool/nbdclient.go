package thinpool

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// nbdClient is the smallest NBD client the throughput bench needs: fixed
// newstyle handshake with NBD_OPT_EXPORT_NAME, then READ and WRITE with
// simple replies, one request in flight. It exists so that the bench drives
// the server with exactly the IO pattern it drives the device with; the
// protocol tests use the real clients (qemu-io, nbdcopy).
type nbdClient struct {
	c    net.Conn
	size uint64
	hdr  [28]byte
	rep  [16]byte
}

const (
	nbdRequestMagic = 0x25609513
	nbdReplyMagic   = 0x67446698
	nbdCmdRead      = 0
	nbdCmdWrite     = 1
	nbdCmdDisc      = 2
	nbdOptExport    = 1
	nbdIHaveOpt     = 0x49484156454F5054
)

func dialNBD(socket, export string) (*nbdClient, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return nil, err
	}
	var hello [18]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("nbd handshake: %w", err)
	}
	if string(hello[:8]) != "NBDMAGIC" || binary.BigEndian.Uint64(hello[8:16]) != nbdIHaveOpt {
		c.Close()
		return nil, fmt.Errorf("nbd handshake: not a newstyle server")
	}
	// client flags: fixed newstyle | no zeroes
	opt := binary.BigEndian.AppendUint32(nil, 1|2)
	opt = binary.BigEndian.AppendUint64(opt, nbdIHaveOpt)
	opt = binary.BigEndian.AppendUint32(opt, nbdOptExport)
	opt = binary.BigEndian.AppendUint32(opt, uint32(len(export)))
	opt = append(opt, export...)
	if _, err := c.Write(opt); err != nil {
		c.Close()
		return nil, err
	}
	var info [10]byte
	if _, err := io.ReadFull(c, info[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("nbd export %q: %w", export, err)
	}
	return &nbdClient{c: c, size: binary.BigEndian.Uint64(info[:8])}, nil
}

func (n *nbdClient) request(cmd uint16, off int64, length int) error {
	binary.BigEndian.PutUint32(n.hdr[0:], nbdRequestMagic)
	binary.BigEndian.PutUint16(n.hdr[4:], 0)
	binary.BigEndian.PutUint16(n.hdr[6:], cmd)
	binary.BigEndian.PutUint64(n.hdr[8:], 1)
	binary.BigEndian.PutUint64(n.hdr[16:], uint64(off))
	binary.BigEndian.PutUint32(n.hdr[24:], uint32(length))
	_, err := n.c.Write(n.hdr[:])
	return err
}

func (n *nbdClient) reply() error {
	if _, err := io.ReadFull(n.c, n.rep[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(n.rep[0:]) != nbdReplyMagic {
		return fmt.Errorf("nbd: bad reply magic")
	}
	if e := binary.BigEndian.Uint32(n.rep[4:]); e != 0 {
		return fmt.Errorf("nbd: server error %d", e)
	}
	return nil
}

func (n *nbdClient) ReadAt(p []byte, off int64) (int, error) {
	if err := n.request(nbdCmdRead, off, len(p)); err != nil {
		return 0, err
	}
	if err := n.reply(); err != nil {
		return 0, err
	}
	return io.ReadFull(n.c, p)
}

func (n *nbdClient) WriteAt(p []byte, off int64) (int, error) {
	if err := n.request(nbdCmdWrite, off, len(p)); err != nil {
		return 0, err
	}
	if _, err := n.c.Write(p); err != nil {
		return 0, err
	}
	if err := n.reply(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (n *nbdClient) Close() error {
	_ = n.request(nbdCmdDisc, 0, 0)
	return n.c.Close()
}
