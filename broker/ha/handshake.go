package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Controller mode adds a handshake before the first offset report, so that
// a slave can find the last point its log shares with its master's and cut
// a divergent tail before it replicates (BROKER-INTERNALS §19):
//
//	slave → master  | magic 4 | brokerId 8 | expected master epoch 4 |
//	master → slave  | magic 4 | master epoch 4 | log end 8 | n 4 | n × (epoch 4 | start offset 8) |
//
// A master that is not master any more (epoch 0), or whose epoch is older
// than the slave expects, is refused by the other side: the connection is
// closed and the slave asks for its master again.

// handshakeMagic opens both handshake messages ("RGH1").
const handshakeMagic = 0x52474831

// maxHandshakeEntries bounds the epoch entries a handshake carries.
const maxHandshakeEntries = 1 << 16

// Handshake errors.
var (
	ErrNotMaster  = errors.New("ha: not the master")
	ErrStaleEpoch = errors.New("ha: the master's epoch is older than the controller's")
)

// encodeHello is the slave's half.
func encodeHello(id int64, epoch int32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b, handshakeMagic)
	binary.BigEndian.PutUint64(b[4:], uint64(id))
	binary.BigEndian.PutUint32(b[12:], uint32(epoch))
	return b
}

// readHello reads the slave's half.
func readHello(r io.Reader) (id int64, epoch int32, err error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, 0, err
	}
	if m := binary.BigEndian.Uint32(b[:]); m != handshakeMagic {
		return 0, 0, fmt.Errorf("ha: handshake magic %#x, want %#x (a slave not in controller mode?)", m, handshakeMagic)
	}
	return int64(binary.BigEndian.Uint64(b[4:])), int32(binary.BigEndian.Uint32(b[12:])), nil
}

// encodeWelcome is the master's half.
func encodeWelcome(epoch int32, end int64, entries []EpochEntry) []byte {
	b := make([]byte, 20, 20+12*len(entries))
	binary.BigEndian.PutUint32(b, handshakeMagic)
	binary.BigEndian.PutUint32(b[4:], uint32(epoch))
	binary.BigEndian.PutUint64(b[8:], uint64(end))
	binary.BigEndian.PutUint32(b[16:], uint32(len(entries)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.StartOffset))
	}
	return b
}

// readWelcome reads the master's half.
func readWelcome(r io.Reader) (epoch int32, end int64, entries []EpochEntry, err error) {
	var b [20]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, 0, nil, err
	}
	if m := binary.BigEndian.Uint32(b[:]); m != handshakeMagic {
		return 0, 0, nil, fmt.Errorf("ha: handshake answer magic %#x, want %#x (a master not in controller mode?)", m, handshakeMagic)
	}
	epoch = int32(binary.BigEndian.Uint32(b[4:]))
	end = int64(binary.BigEndian.Uint64(b[8:]))
	n := binary.BigEndian.Uint32(b[16:])
	if n > maxHandshakeEntries || end < 0 {
		return 0, 0, nil, fmt.Errorf("ha: handshake answer with %d epoch entries and log end %d", n, end)
	}
	raw := make([]byte, 12*int(n))
	if _, err := io.ReadFull(r, raw); err != nil {
		return 0, 0, nil, err
	}
	entries = make([]EpochEntry, n)
	for i := range entries {
		entries[i] = EpochEntry{Epoch: int32(binary.BigEndian.Uint32(raw[12*i:])), StartOffset: int64(binary.BigEndian.Uint64(raw[12*i+4:]))}
	}
	return epoch, end, entries, nil
}

// welcome runs the master's side of the handshake on a new connection: it
// learns the slave's broker id and answers with this master's epoch, log
// end and epoch entries. A master that is not serving (epoch 0) or that is
// older than the slave expects closes the connection.
func (sc *slaveConn) welcome() error {
	m := sc.m
	sc.c.SetReadDeadline(time.Now().Add(m.cfg.IdleTimeout))
	id, want, err := readHello(sc.c)
	if err != nil {
		return err
	}
	epoch, entries := m.cfg.Epochs()
	switch {
	case epoch == 0:
		return ErrNotMaster
	case want > epoch:
		return fmt.Errorf("%w: slave %d expects epoch %d, this master is at %d", ErrStaleEpoch, id, want, epoch)
	}
	sc.id.Store(id)
	sc.c.SetWriteDeadline(time.Now().Add(m.cfg.SendTimeout))
	_, err = sc.c.Write(encodeWelcome(epoch, m.cfg.Source.MaxOffset(), entries))
	return err
}
