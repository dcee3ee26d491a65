#!/bin/sh
# Ten interleaved rounds of BenchmarkLoopbackTLS, then the idle-connection memory benchmark.
set -e
go test -c -o /tmp/remoting.test ./remoting/
cd remoting
for i in $(seq 1 10); do
	/tmp/remoting.test -test.run '^$' -test.bench LoopbackTLS -test.benchtime=20000x -test.count=1 | grep '^Bench'
done
/tmp/remoting.test -test.run '^$' -test.bench TLSIdle -test.benchtime=3x -test.count=6 | grep '^Bench'
