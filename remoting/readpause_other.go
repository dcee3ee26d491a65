//go:build !linux || poll_opt

package remoting

import (
	"errors"

	"github.com/panjf2000/gnet/v2"
)

// setReading cannot take a socket out of gnet's read set here: a connection
// over its high-water mark is still read, and closed as a slow consumer
// once more than HighWater bytes of it wait unread (flow.go).
func setReading(gnet.Conn, bool) error {
	return errors.New("pausing reads is implemented for gnet's default epoll poller only")
}
