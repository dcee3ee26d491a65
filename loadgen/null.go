package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// The null target answers like a namesrv and like the master of one broker
// group, on one port, and stores nothing: a send is answered SEND_OK as
// soon as it is decoded, a topic is created by saying so, every topic is
// routed to itself with nullQueues queues. Driven at a rate, it shows what
// the tool itself adds to the numbers at that rate (pacing lag, the client's
// round trip with no broker behind it): the floor below which nothing a
// report says about a broker means anything. It runs as a child process
// (childEnv), so that it shares neither a Go runtime nor a priority with
// the pacers.
const (
	NullGroup   = "null"
	nullCluster = "NullCluster"
	nullQueues  = 4
)

// nullTarget is the null target's state.
type nullTarget struct {
	addr    string
	offsets [nullQueues]atomic.Int64 // next offset per queue id, whatever the topic
}

// serveNull runs the null target on listen until SIGTERM or SIGINT; it
// logs msg=listening service=null addr=HOST:PORT on standard error.
func serveNull(listen string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	t := &nullTarget{}
	s := remoting.NewServer(remoting.ServerConfig{Addr: listen, Name: "null", Log: log})
	ok := func(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
		return remoting.NewResponse(req, remoting.Success, "")
	}
	for _, code := range []int32{remoting.UpdateAndCreateTopic, remoting.HeartBeat, remoting.UnregisterClient} {
		s.Handle(code, ok)
	}
	s.Handle(remoting.GetRouteinfoByTopic, t.route)
	s.Handle(remoting.GetBrokerClusterInfo, t.clusterInfo)
	for _, code := range []int32{remoting.SendMessage, remoting.SendMessageV2, remoting.SendBatchMessage} {
		s.HandleInline(code, t.send)
	}
	if err := s.Start(); err != nil {
		return err
	}
	t.addr = s.Addr()
	log.Info("listening", "service", "null", "addr", t.addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return s.Close()
}

func (t *nullTarget) group() wire.BrokerData {
	return wire.BrokerData{Cluster: nullCluster, BrokerName: NullGroup, BrokerAddrs: wire.BrokerAddrs{0: t.addr}}
}

func (t *nullTarget) route(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonAnswer(req, wire.TopicRoute{
		BrokerDatas: []wire.BrokerData{t.group()},
		QueueDatas: []wire.QueueData{{BrokerName: NullGroup, Perm: wire.PermRead | wire.PermWrite,
			ReadQueueNums: nullQueues, WriteQueueNums: nullQueues}},
	})
}

func (t *nullTarget) clusterInfo(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonAnswer(req, wire.ClusterInfo{
		BrokerAddrTable:  map[string]wire.BrokerData{NullGroup: t.group()},
		ClusterAddrTable: map[string][]string{nullCluster: {NullGroup}},
	})
}

// jsonAnswer answers req SUCCESS with v as its JSON body.
func jsonAnswer(req *remoting.Command, v any) *remoting.Command {
	body, err := json.Marshal(v)
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "encode %T: %v", v, err)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

// send answers SEND_OK with the next offset of the queue asked for.
func (t *nullTarget) send(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
	q := req.ExtValue("e") // SEND_MESSAGE_V2's short header
	if q == "" {
		q = req.ExtValue("queueId")
	}
	id, err := strconv.Atoi(q)
	if err != nil || id < 0 || id >= nullQueues {
		return remoting.Errorf(req, remoting.SystemError, "queueId %q: want 0..%d", q, nullQueues-1)
	}
	off := t.offsets[id].Add(1) - 1
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("msgId", fmt.Sprintf("%032X", uint64(id)<<56|uint64(off)))
	resp.SetExt("queueId", q)
	resp.SetExtInt("queueOffset", off)
	return resp
}

// StartNullTarget starts the null target as a child process on a free
// port of 127.0.0.1, its log in dir; Stop or Kill the Node when done.
// Its Addr is both the namesrv address to give a run and the broker's.
func StartNullTarget(ctx context.Context, dir string, log *slog.Logger) (*Node, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("null target: %w", err)
	}
	spec, err := json.Marshal(childJob{Kind: "null", Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	n := &Node{Name: "null-target", Bin: self, DataDir: filepath.Join(dir, "null-target"), log: log,
		env: []string{childEnv + "=" + string(spec)}}
	if err := n.start(ctx, "null"); err != nil {
		return nil, err
	}
	return n, nil
}
