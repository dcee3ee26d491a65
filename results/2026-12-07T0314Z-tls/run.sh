#!/bin/sh
# Ten interleaved rounds of BenchmarkLoopbackTLS, then the idle-connection memory benchmark.
set -e
T=$(mktemp -d)
go test -c -o "$T/remoting.test" ./remoting/
cd remoting
for i in $(seq 1 10); do
	"$T/remoting.test" -test.run '^$' -test.bench LoopbackTLS -test.benchtime=20000x -test.count=1 | grep '^Bench'
done
"$T/remoting.test" -test.run '^$' -test.bench TLSIdle -test.benchtime=3x -test.count=6 | grep '^Bench'
