#!/bin/bash
# cpu-probe-1conn.sh BINDIR N: starts a namesrv and an ASYNC_MASTER broker from BINDIR, creates N topics
# one after the other over one connection (createprobe.go, built as $PROBE, default BINDIR/createprobe),
# and prints the CPU time each server spent meanwhile.
BIN=$1; N=$2; PROBE=${PROBE:-$BIN/createprobe}
R=$(mktemp -d)
$BIN/namesrv -listen 127.0.0.1:0 > $R/ns.log 2>&1 &
NSPID=$!
until grep -q 'msg=listening' $R/ns.log; do sleep 0.1; done
NS=$(grep -o 'addr=[0-9.:]*' $R/ns.log | head -1 | cut -d= -f2)
$BIN/broker -namesrvAddr $NS -brokerName probe -listenPort 0 -haListenPort 0 -storePathRootDir $R/store -mappedFileSizeCommitLog 67108864 > $R/b.log 2>&1 &
BPID=$!
until grep -q 'service=broker' $R/b.log; do sleep 0.1; done
BA=$(grep 'service=broker' $R/b.log | grep -o 'addr=[0-9.:]*' | head -1 | cut -d= -f2)
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
b0=$(ticks $BPID); n0=$(ticks $NSPID); t0=$(date +%s.%N)
$PROBE $BA $N > /dev/null || exit 1
echo "$N topics in $(echo "$(date +%s.%N) - $t0" | bc) s; broker CPU $(( $(ticks $BPID) - b0 ))0 ms, namesrv CPU $(( $(ticks $NSPID) - n0 ))0 ms"
kill $BPID $NSPID; wait $BPID $NSPID 2>/dev/null
rm -rf $R
