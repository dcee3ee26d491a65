#!/bin/bash
# Interleaved before/after runs of BenchmarkSendWhileCreatingTopics, one run each, five rounds.
# BEFORE and AFTER are checkouts (before: main's broker with the benchmark added, 15fc728 + bench/topics_test.go
# of AFTER; after: the pipeline branch); BIN holds their test binaries, built with
#   (cd $BEFORE && go test -c -o $BIN/before.test ./bench); (cd $AFTER && go test -c -o $BIN/after.test ./bench)
# Each run builds the broker and namesrv from the checkout it runs in (internal/proctest).
out=${OUT:-bench.txt}
: > $out
for i in 1 2 3 4 5; do
  for mode in createTopics autoCreateTopics; do
    for tree in before after; do
      if [ $tree = before ]; then dir=$BEFORE/bench; else dir=$AFTER/bench; fi
      line=$(cd $dir && $BIN/$tree.test -test.run '^$' -test.bench "SendWhileCreatingTopics/by=$mode\$" -test.benchtime 1x -test.v 2>&1 | grep -E "^Benchmark.*-2|topics_test.go|panic" | head -3 | tr "\n" " ")
      echo "$tree $i $(uptime | sed 's/.*load average: //') $line" >> $out
    done
  done
done
echo done >> $out
