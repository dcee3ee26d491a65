// Package controller decides which replica of each broker group is the
// master, as RocketMQ 5's controller does (BROKER-INTERNALS §19), so that a
// group whose master dies elects another by itself.
//
// State is the decision: for each group (brokerName) its replicas (broker
// id → address), the master and its epoch, and the SyncStateSet (the
// replicas the master reports as caught up) and its epoch. It changes only
// by Apply, one Command at a time, and is a plain value stepped by commands
// and tested without sockets, as etcd's raft is: the same sequence of
// commands gives the same state on every namesrv, which is what lets a Raft
// log replicate it (each command is a log entry).
//
// What Apply decides from, it is told: liveness (which replicas sent a
// heartbeat lately), their epochs and offsets are observed by the Raft
// leader and carried inside the command that needs them (an election, a
// change of the SyncStateSet), so applying a command never depends on the
// clock or on who applies it.
//
// Rules, following RocketMQ 5:
//   - Broker ids start at 1 and are never reused; 0 means "no master".
//   - Electing a new master bumps the master epoch and makes the
//     SyncStateSet the new master alone (its own epoch bumped). A live
//     master in the SyncStateSet is kept; a designated broker must be alive
//     and, unless unclean election is allowed, in the SyncStateSet. A
//     group's first election, before any SyncStateSet exists, may pick any
//     live replica.
//   - Without an eligible replica the group is left without a master (its
//     epochs unchanged) and the SyncStateSet kept, so the election can be
//     retried when a replica of it comes back.
//   - Only the current master at the current master epoch may change the
//     SyncStateSet, and only from its current epoch: a master cut off from
//     the controller is fenced by its stale epoch.
//
// Node (raft.go) puts a State behind hashicorp/raft: every controller
// applies the same log; only the leader proposes. Liveness (liveness.go)
// is the leader's own view of the replicas' heartbeats and the elections
// it calls for; it is not replicated, and a new leader waits a full
// heartbeat timeout before it trusts the absence of a heartbeat.
//
// Service (service.go) runs a Node in a namesrv (enableControllerInNamesrv)
// and serves RocketMQ's controller requests on its port: BROKER_HEARTBEAT,
// CONTROLLER_REGISTER_BROKER / APPLY_BROKER_ID, ELECT_MASTER,
// ALTER_SYNC_STATE_SET, GET_REPLICA_INFO, GET_METADATA_INFO and
// GET_SYNC_STATE_DATA; requests only the leader serves are answered
// CONTROLLER_NOT_LEADER (2007) naming the leader. While it leads, it scans
// the replicas every scanNotActiveBrokerInterval and elects.
//
// Not yet built (issue 11): brokers in controller mode (registering,
// beating, following the elected role, reporting the SyncStateSet, the
// in-sync acknowledgement rules), epoch files and truncation, and the tools.
//
// State is not safe for concurrent use: the Raft FSM serializes Apply.
package controller
