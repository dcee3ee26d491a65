// Package bench holds benchmarks that start real rocketgo processes on
// 127.0.0.1 and drive them: they measure the system as a deployment sees
// it, with every process sharing this machine's cores.
package bench
