package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// A worker runs parts of runs for a driver (`loadgen worker -listen`): an
// HTTP server speaking JSON, one part per run it is given.
//
//	GET  /info              WorkerInfo: version, machine, pid
//	GET  /clock             {"ns": Unix ns now}: the driver estimates the clock offset from round trips
//	POST /parts             PartSpec → {"id"}: clients started, queues known, nothing sent yet
//	POST /parts/{id}/start  PartTimes: pace from Start, measure [WarmupEnd, End)
//	GET  /parts/{id}        PartStatus: live counters
//	GET  /parts/{id}/ledger ledgerState: acknowledged and consumed sequence numbers so far
//	POST /parts/{id}/finish recordState: waits for the answers, stops consuming, forgets the part
//	DELETE /parts/{id}      abandons the part
//
// Errors are answered with a 4xx/5xx status and the message as text.

// WorkerInfo describes a worker: what the driver records in summary.json
// (Summary.Workers) besides the clock offset it measured.
type WorkerInfo struct {
	Addr    string  `json:"addr"`
	Version string  `json:"version"`
	Machine Machine `json:"machine"`
	PID     int     `json:"pid"`
	// Clock offset (worker clock − driver clock) and its uncertainty
	// (half the shortest round trip), measured by the driver.
	ClockOffset      time.Duration `json:"clockOffsetNs"`
	ClockUncertainty time.Duration `json:"clockUncertaintyNs"`
	Local            bool          `json:"local,omitempty"` // started by the driver on its own host
	// Lost says why the driver gave up on the worker, when it did.
	Lost string `json:"lost,omitempty"`
}

// buildVersion names the binary's code: its VCS revision when the build
// recorded one, else the checkout it runs in (git describe), else the
// module version.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return GitVersion("")
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		if v := GitVersion(""); v != "unknown" {
			return v
		}
		return bi.Main.Version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

type workerServer struct {
	log  *slog.Logger
	info WorkerInfo

	mu    sync.Mutex
	parts map[string]*part
	next  int
}

// ServeWorker serves the worker API on ln until ctx ends, then abandons
// the parts it runs.
func ServeWorker(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	ws := &workerServer{log: log, parts: map[string]*part{},
		info: WorkerInfo{Addr: ln.Addr().String(), Version: buildVersion(), Machine: quickFingerprint(), PID: os.Getpid()}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, ws.info) })
	mux.HandleFunc("GET /clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]int64{"ns": time.Now().UnixNano()})
	})
	mux.HandleFunc("POST /parts", ws.prepare)
	mux.HandleFunc("POST /parts/{id}/start", ws.start)
	mux.HandleFunc("GET /parts/{id}", ws.status)
	mux.HandleFunc("GET /parts/{id}/ledger", ws.ledger)
	mux.HandleFunc("POST /parts/{id}/finish", ws.finish)
	mux.HandleFunc("DELETE /parts/{id}", ws.abandon)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("listening", "service", "loadgen-worker", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			srv.Close()
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	close(done)
	ws.mu.Lock()
	for id, p := range ws.parts {
		p.close()
		delete(ws.parts, id)
	}
	ws.mu.Unlock()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// maxPartSpec bounds a PartSpec request body.
const maxPartSpec = 1 << 20

func (ws *workerServer) prepare(w http.ResponseWriter, r *http.Request) {
	var spec PartSpec
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPartSpec)).Decode(&spec); err != nil {
		http.Error(w, "part spec: "+err.Error(), http.StatusBadRequest)
		return
	}
	p, err := preparePart(r.Context(), spec, ws.log)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	ws.mu.Lock()
	ws.next++
	id := strconv.Itoa(ws.next)
	ws.parts[id] = p
	ws.mu.Unlock()
	writeJSON(w, map[string]string{"id": id})
}

func (ws *workerServer) part(w http.ResponseWriter, r *http.Request, remove bool) *part {
	id := r.PathValue("id")
	ws.mu.Lock()
	p := ws.parts[id]
	if remove {
		delete(ws.parts, id)
	}
	ws.mu.Unlock()
	if p == nil {
		http.Error(w, fmt.Sprintf("no part %q", id), http.StatusNotFound)
	}
	return p
}

func (ws *workerServer) start(w http.ResponseWriter, r *http.Request) {
	p := ws.part(w, r, false)
	if p == nil {
		return
	}
	var t PartTimes
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&t); err != nil {
		http.Error(w, "part times: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !(t.Start <= t.WarmupEnd && t.WarmupEnd < t.End) {
		http.Error(w, fmt.Sprintf("part times: want start ≤ warmupEnd < end, got %d, %d, %d", t.Start, t.WarmupEnd, t.End), http.StatusBadRequest)
		return
	}
	if !p.starting() {
		http.Error(w, "part already started", http.StatusConflict)
		return
	}
	p.start(t)
	w.WriteHeader(http.StatusNoContent)
}

func (ws *workerServer) status(w http.ResponseWriter, r *http.Request) {
	if p := ws.part(w, r, false); p != nil {
		writeJSON(w, p.status())
	}
}

func (ws *workerServer) ledger(w http.ResponseWriter, r *http.Request) {
	p := ws.part(w, r, false)
	if p == nil {
		return
	}
	if p.rec == nil {
		http.Error(w, "part was never started", http.StatusConflict)
		return
	}
	writeJSON(w, p.rec.ledgers())
}

func (ws *workerServer) finish(w http.ResponseWriter, r *http.Request) {
	p := ws.part(w, r, true)
	if p == nil {
		return
	}
	st := p.finish()
	p.close()
	if st == nil {
		http.Error(w, "part was never started", http.StatusConflict)
		return
	}
	writeJSON(w, st)
}

func (ws *workerServer) abandon(w http.ResponseWriter, r *http.Request) {
	if p := ws.part(w, r, true); p != nil {
		p.close()
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The client went away; nothing else to tell.
		return
	}
}
