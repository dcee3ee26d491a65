package remoting

// What a handler returns.
//
// A handler answers its request in one of four explicit ways:
//
//	return resp                 the server writes resp as the answer
//	return req.Later()          the handler keeps req and answers it later with c.Answer or c.AnswerBody
//	return req.Answered()       the handler has already written its answer (c.AnswerBody, zero copy)
//	return req.Offload()        inline handlers only, before doing anything: run me on a worker
//
// A nil result is a bug in the handler: the server logs it and answers
// SYSTEM_ERROR, so the client is never left waiting by mistake.

// The markers a handler returns instead of a response. They are never
// written, and their fields are never read.
var (
	markLater    = &Command{}
	markAnswered = &Command{}
	markOffload  = &Command{}
)

// States of Command.later.
const (
	laterNone int32 = iota
	laterPending
	laterAnswered
)

// Later tells the server that the handler keeps req and answers it later,
// from any goroutine, with Conn.Answer or Conn.AnswerBody (for a oneway
// request too, which then writes nothing). The request's memory is not
// reused until then. A handler returns what Later returns.
func (c *Command) Later() *Command {
	c.kept = true
	c.later.Store(laterPending)
	return markLater
}

// Answered tells the server that the handler has written its answer itself
// (Conn.AnswerBody) before returning. A handler returns what Answered
// returns.
func (c *Command) Answered() *Command { return markAnswered }

// Offload is what an inline handler (HandleInline) returns, before it has
// done anything, when serving the request would make it block: the server
// queues the request to a worker and calls the handler again there, where
// req.OnLoop() is false.
func (c *Command) Offload() *Command { return markOffload }

// isMarker reports whether a handler's result is one of the markers.
func isMarker(resp *Command) bool {
	return resp == markLater || resp == markAnswered || resp == markOffload
}

// Answer writes resp as the answer to req: same opaque and header type,
// the response flag set. Nothing is written for a oneway request. It ends
// a request the handler deferred with Later; calling it for a request that
// was answered already is harmless and writes nothing.
func (c *Conn) Answer(req, resp *Command) error {
	if !c.settle(req) || req.IsOneway() {
		return nil
	}
	c.answering(req, resp)
	return c.Write(resp)
}

// AnswerBody is Answer with a body made of parts, written without a copy
// as WriteBody does; done runs exactly once, as WriteBody's does.
func (c *Conn) AnswerBody(req, resp *Command, parts [][]byte, done func()) error {
	if !c.settle(req) || req.IsOneway() {
		if done != nil {
			done()
		}
		return nil
	}
	c.answering(req, resp)
	return c.WriteBody(resp, parts, done)
}

// Drop ends a request deferred with Later without answering it, as when its
// connection has closed: it no longer counts as in flight, and what it held
// of the server's request budget is given back. Answering it later writes
// nothing.
func (c *Conn) Drop(req *Command) { c.settle(req) }

// settle marks req answered and reports whether it was not yet: a deferred
// request is answered exactly once, and then no longer counts as in flight
// on c.
func (c *Conn) settle(req *Command) bool {
	for {
		switch st := req.later.Load(); st {
		case laterAnswered:
			return false
		case laterNone:
			return true // answered by its handler before it returned
		default:
			if req.later.CompareAndSwap(st, laterAnswered) {
				c.finish(req)
				return true
			}
		}
	}
}
