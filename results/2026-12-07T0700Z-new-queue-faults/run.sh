#!/bin/sh
# usage: MODE=autoCreateTopics ROUNDS=3 OUT=file run.sh
for r in $(seq 1 $ROUNDS); do
  for T in $TREES; do
    line=$(cd /tmp/cq/$T/bench && /tmp/cq/$T.test -test.run '^$' -test.bench "SendWhileCreatingTopics/by=$MODE\$" -test.benchtime 1x -test.v 2>&1 | grep -E "creation from|Benchmark.*-2" | tr '\n' ' ')
    echo "$T $r $(cut -d' ' -f1-3 /proc/loadavg) $line" >> $OUT
  done
done
echo done >> $OUT
