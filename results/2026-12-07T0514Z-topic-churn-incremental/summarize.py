import re,sys,statistics
rows={}
for line in open(sys.argv[1]):
    m=re.match(r'(\S+) (\d+) ',line)
    if not m: continue
    tree=m.group(1)
    d={}
    for val,key in re.findall(r'([\d.]+) ([a-z0-9./-]+-µs|p99-ratio|topics/s)',line):
        d[key]=float(val)
    if 'p99-ratio' not in d:
        print('no result:',line[:300]); continue
    rows.setdefault(tree,[]).append(d)
keys=['base-p99-µs','create-p99-µs','p99-ratio','create-max-µs','store-p99.9-µs','store-max-µs','hiccup-p99-µs','topics/s']
print('tree n '+' '.join(keys))
for tree,ds in rows.items():
    print(tree,len(ds),' '.join('%g'%statistics.median([d[k] for d in ds]) for k in keys))
    for d in ds: print('   ',' '.join('%g'%d[k] for k in keys))
