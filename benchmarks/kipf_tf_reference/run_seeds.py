#!/usr/bin/env python3
"""Run Kipf & Welling's original TF GCN (gcn/train.py, compat-patched) for many seeds.

One fresh process per seed (fresh graph/session). Seed passed via GCN_SEED env var,
which replaces the hard-coded `seed = 123` in train.py. Everything else is Kipf's defaults.

Usage: venv/bin/python run_seeds.py DATASET [first_seed] [last_seed] [workers] [threads]
Writes results_<dataset>.csv (seed,test_acc,epochs,test_cost,wall_s) as runs finish,
and the full stdout of each run to logs/<dataset>/seed_<n>.log.
"""
import csv
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.join(HERE, 'venv', 'bin', 'python')

dataset = sys.argv[1]
first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
last = int(sys.argv[3]) if len(sys.argv) > 3 else 99
workers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1

logdir = os.path.join(HERE, 'logs', dataset)
os.makedirs(logdir, exist_ok=True)
out_csv = os.path.join(HERE, 'results_%s.csv' % dataset)

TEST_RE = re.compile(r'^Test set results: cost= ([0-9.]+) accuracy= ([0-9.]+)', re.M)
EPOCH_RE = re.compile(r'^Epoch: (\d+)', re.M)


def run(seed):
    env = dict(os.environ, GCN_SEED=str(seed), GCN_THREADS=str(threads),
               TF_CPP_MIN_LOG_LEVEL='2', OMP_NUM_THREADS=str(threads))
    t0 = time.time()
    p = subprocess.run([PY, '-m', 'gcn.train', '--dataset', dataset], cwd=HERE, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    with open(os.path.join(logdir, 'seed_%d.log' % seed), 'w') as f:
        f.write(p.stdout)
        f.write('\n--- stderr ---\n')
        f.write(p.stderr)
    m = TEST_RE.search(p.stdout)
    if p.returncode != 0 or m is None:
        raise RuntimeError('seed %d failed (rc=%d); see log' % (seed, p.returncode))
    epochs = len(EPOCH_RE.findall(p.stdout))
    return seed, float(m.group(2)), epochs, float(m.group(1)), wall


t_start = time.time()
with open(out_csv, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['seed', 'test_acc', 'epochs', 'test_cost', 'wall_s'])
    f.flush()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        futs = [ex.submit(run, s) for s in range(first, last + 1)]
        for fut in as_completed(futs):
            seed, acc, ep, cost, wall = fut.result()
            w.writerow([seed, '%.5f' % acc, ep, '%.5f' % cost, '%.2f' % wall])
            f.flush()
            print('seed %3d acc %.5f epochs %3d wall %.2fs' % (seed, acc, ep, wall), flush=True)
print('total wall %.1fs' % (time.time() - t_start))
