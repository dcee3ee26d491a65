package broker

// role is what this broker is now: fixed by broker.properties, or in
// controller mode (controlled.go) what the controller last decided.
type role struct {
	name  string // AsyncMaster, SyncMaster or Slave
	id    int64  // the brokerId the namesrvs know it by (0: master); -1 before the controller gave one
	epoch int32  // controller mode: the master epoch the role was taken at
}

// role returns the broker's current role (broker.properties' until New
// sets one).
func (b *Broker) role() role {
	if r := b.roleNow.Load(); r != nil {
		return *r
	}
	return role{name: b.cfg.BrokerRole, id: b.cfg.BrokerID}
}

// setRole switches the broker's role.
func (b *Broker) setRole(r role) { b.roleNow.Store(&r) }

// isSlave reports whether the broker refuses writes: a slave, or in
// controller mode a broker the controller has not made master.
func (b *Broker) isSlave() bool { return b.role().name == Slave }

// brokerID is the id this broker registers with the namesrvs.
func (b *Broker) brokerID() int64 { return b.role().id }
