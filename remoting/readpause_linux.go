//go:build linux && !poll_opt

package remoting

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// setReading puts the connection's socket into its event loop's epoll read
// set, or takes it out. gnet has no API for this (panjf2000/gnet#712), so
// the poller's descriptor is read by reflection from gnet v2's unexported
// fields conn.loop.poller.fd, and the registration is rewritten as gnet's
// default poller writes it: level-triggered, the socket's descriptor as the
// event data, EPOLLIN|EPOLLPRI to read, and EPOLLOUT while gnet holds bytes
// to write (it expects write events then). gnet rewrites the registration
// itself when its outbound buffer empties or fills, turning reading back
// on; checkFlow turns it off again. It runs on the event loop.
func setReading(gc gnet.Conn, on bool) error {
	epfd, err := pollerFD(gc)
	if err != nil {
		return err
	}
	var ev uint32
	if on {
		ev = unix.EPOLLIN | unix.EPOLLPRI
	}
	if gc.OutboundBuffered() > 0 {
		ev |= unix.EPOLLOUT
	}
	fd := gc.Fd()
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl mod fd %d: %w", fd, err)
	}
	return nil
}

var errGnetLayout = errors.New("gnet's conn.loop.poller.fd not found: reading cannot be paused")

// pollerFD returns the epoll descriptor of gc's event loop.
func pollerFD(gc gnet.Conn) (int, error) {
	v := reflect.ValueOf(gc)
	for _, name := range []string{"loop", "poller", "fd"} {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return 0, errGnetLayout
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return 0, errGnetLayout
		}
		v = v.FieldByName(name)
	}
	if v.Kind() != reflect.Int {
		return 0, errGnetLayout
	}
	return int(v.Int()), nil
}
