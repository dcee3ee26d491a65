#!/bin/bash
# Interleaved runs of BenchmarkSendWhileCreatingTopics/by=$MODE (default createTopics), one run each,
# ROUNDS rounds (default 5), over the trees named in TREES (default "before after"). For each tree T,
# $T_DIR is its checkout and $BIN/$T.test its bench test binary, built with
#   (cd $T_DIR && go test -c -o $BIN/T.test ./bench)
# Each run builds the broker and namesrv from the checkout it runs in (internal/proctest).
out=${OUT:-bench.txt}
mode=${MODE:-createTopics}
: > $out
for i in $(seq 1 ${ROUNDS:-5}); do
  for tree in ${TREES:-before after}; do
    dir=${tree}_DIR
    line=$(cd ${!dir}/bench && $BIN/$tree.test -test.run '^$' -test.bench "SendWhileCreatingTopics/by=$mode\$" -test.benchtime 1x -test.v 2>&1 | grep -E "^Benchmark.*-2|topics_test.go|panic|FAIL" | head -3 | tr "\n" " ")
    echo "$tree $i $(uptime | sed 's/.*load average: //') $line" >> $out
  done
done
echo done >> $out
