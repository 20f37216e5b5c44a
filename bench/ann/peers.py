"""hnswlib and faiss HNSW indexes for ctrecon's bench/ann, driven over stdin.

Run by peers.go with /usr/bin/python3 (Debian's python3-hnswlib and
python3-faiss), so that the Go side can interleave the peers' searches with
its own. Reads base and query vectors from .fvecs, then answers one JSON
request per line of stdin with one JSON line on stdout:

  {"cmd": "build", "tool": T, "M": m, "efc": e, "seed": s}
      builds T's index on one thread:
      {"build_s", "build_cpu_s", "bytes_per_vector"}
  {"cmd": "search", "tool": T, "ef": e, "k": k, "min_time": s, "ids": path}
      searches every query, again and again until min_time seconds of
      process CPU time have passed, and writes the first round's answers
      (base row numbers, -1 for none) to path as .ivecs:
      {"seconds", "cpu_s", "queries_run"}
  {"cmd": "drop", "tool": T}
      frees T's index: {}

An error is {"error": "..."}. CPU times are the process's (user + system).
"""

import gc
import importlib
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    if not (rows[:, 0] == dim).all():
        raise ValueError(f"{path}: ragged rows")
    return np.ascontiguousarray(rows[:, 1:].view(np.float32))


def write_ivecs(path, ids):
    k = ids.shape[1]
    out = np.empty((ids.shape[0], k + 1), dtype=np.int32)
    out[:, 0] = k
    out[:, 1:] = ids
    out.tofile(path)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class HNSWLib:
    def __init__(self, hnswlib, base, metric, M, efc, seed):
        self.p = hnswlib.Index(space={"euclidean": "l2", "cosine": "cosine"}[metric], dim=base.shape[1])
        self.p.init_index(max_elements=len(base), ef_construction=efc, M=M, random_seed=seed)
        self.p.set_num_threads(1)
        self.p.add_items(base, np.arange(len(base)), num_threads=1)

    def search(self, queries, k, ef):
        self.p.set_ef(ef)
        return self.p.knn_query(queries, k=k, num_threads=1)[0].astype(np.int32)


class Faiss:
    def __init__(self, faiss, base, metric, M, efc, seed):
        faiss.omp_set_num_threads(1)
        self.cosine = metric == "cosine"
        if self.cosine:
            self.p = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
            base = unit(base)
        else:
            self.p = faiss.IndexHNSWFlat(base.shape[1], M)
        self.p.hnsw.efConstruction = efc
        self.p.add(base)

    def search(self, queries, k, ef):
        self.p.hnsw.efSearch = ef
        if self.cosine:
            queries = unit(queries)
        return self.p.search(queries, k)[1].astype(np.int32)


TOOLS = {"hnswlib": HNSWLib, "faiss": Faiss}


def main():
    base, queries, metric = read_fvecs(sys.argv[1]), read_fvecs(sys.argv[2]), sys.argv[3]
    built = {}
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "build":
                # imported before the build is measured: importing faiss alone
                # takes 0.2 s of CPU and 25 MB (hnswlib 1.8 MB), not its index's
                tool, lib = TOOLS[req["tool"]], importlib.import_module(req["tool"])
                gc.collect()
                before = rss()
                wall, cpu = time.perf_counter(), time.process_time()
                built[req["tool"]] = tool(lib, base, metric, req["M"], req["efc"], req["seed"])
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                gc.collect()
                out = {"build_s": wall, "build_cpu_s": cpu, "bytes_per_vector": (rss() - before) / len(base)}
            elif req["cmd"] == "search":
                index = built[req["tool"]]
                wall, cpu = time.perf_counter(), time.process_time()
                ids = index.search(queries, req["k"], req["ef"])
                rounds = 1
                while time.process_time() - cpu < req["min_time"]:
                    index.search(queries, req["k"], req["ef"])
                    rounds += 1
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                write_ivecs(req["ids"], ids)
                out = {"seconds": wall, "cpu_s": cpu, "queries_run": rounds * len(queries)}
            elif req["cmd"] == "drop":
                del built[req["tool"]]
                gc.collect()
                out = {}
            else:
                out = {"error": f"unknown command {req['cmd']!r}"}
        except Exception as e:  # the Go side reports it
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
