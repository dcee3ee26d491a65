#!/bin/bash
# usage: run.sh BINDIR NAME RATE [WORKDIR]   (WORKDIR: logs and stores; default a new temp dir)
BIN=$(realpath "$1"); NAME=$2; RATE=${3:-2000}; WORK=${4:-$(mktemp -d)}
mkdir -p "$WORK" && cd "$WORK" && rm -rf store-$NAME
$BIN/namesrv -listen 127.0.0.1:19876 > ns-$NAME.log 2>&1 & NS=$!
sleep 0.3
$BIN/broker -namesrvAddr 127.0.0.1:19876 -brokerName m1 -listenPort 19911 -storePathRootDir "$WORK/store-$NAME" $BEXTRA > br-$NAME.log 2>&1 & BR=$!
sleep 1.5
b0=$(awk '{print $14+$15}' /proc/$BR/stat)
/usr/bin/time -f "loadgen cpu %U+%S s" $BIN/loadgen run -bin $BIN -namesrv 127.0.0.1:19876 -group m1 -rate $RATE -duration 10s -consumers 0 -quiet $EXTRA -results "$WORK/lgres" -name $NAME > lg-$NAME.log 2>&1
b1=$(awk '{print $14+$15}' /proc/$BR/stat)
kill $BR $NS; wait $BR $NS 2>/dev/null
echo "$NAME broker cpu $(( (b1-b0) ))0 ms; $(grep 'loadgen cpu' lg-$NAME.log)"
d=$(grep -o "$WORK/lgres/[^ ]*report.md" lg-$NAME.log | xargs dirname)
python3 -c "
import json
s=json.load(open('$d/summary.json'))
r=s['runs'][0]
print('  ', ' '.join('%s p50=%d p99=%d p99.9=%d max=%d' % (k, r[k]['p50'], r[k]['p99'], r[k]['p999'], r[k]['max']) for k in ['send','service','hiccup'] if k in r))
"
