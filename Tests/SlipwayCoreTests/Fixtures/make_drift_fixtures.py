"""Reference values for DriftStatisticsTests, computed once with scipy/numpy.

Samples come from a xorshift64 generator that the Swift test reproduces
exactly, so only the parameters and the expected numbers are committed.
Run: python3 make_drift_fixtures.py > drift_fixtures.json
"""
import json, math
import numpy as np
from scipy import stats
from scipy.spatial import distance

MASK = (1 << 64) - 1


def sample(seed, n, kind, shift=0.0):
    s = seed | 1
    out = []
    for _ in range(n):
        s ^= (s << 13) & MASK
        s ^= s >> 7
        s ^= (s << 17) & MASK
        u = (s >> 11) / float(1 << 53)
        if kind == "uniform":
            v = u
        elif kind == "exp":
            v = -math.log(1.0 - u)
        elif kind == "ties":
            v = math.floor(u * 20.0) / 4.0
        else:
            raise ValueError(kind)
        out.append(v + shift)
    return out


def bins(ref_sorted, b=10):
    edges = []
    for i in range(1, b):
        e = float(np.quantile(ref_sorted, i / b))
        if not edges or edges[-1] != e:
            edges.append(e)
    return edges


def proportions(xs, edges):
    counts = [0] * (len(edges) + 1)
    for x in xs:
        i = 0
        while i < len(edges) and x > edges[i]:
            i += 1
        counts[i] += 1
    return [c / len(xs) for c in counts]


def psi(r, c, eps=1e-4):
    return sum(((cb if cb else eps) - (ra if ra else eps)) * math.log((cb if cb else eps) / (ra if ra else eps)) for ra, cb in zip(r, c))


cases = []
for name, (sa, na, ka, sb, nb, kb, shift) in {
    "exact-equal": (1, 200, "uniform", 2, 200, "uniform", 0.1),
    "exact-unequal": (3, 300, "exp", 4, 450, "exp", 0.05),
    "exact-ties": (5, 500, "ties", 6, 800, "ties", 0.0),
    "exact-same": (7, 1000, "uniform", 8, 1000, "uniform", 0.0),
    "asymp-null": (9, 12000, "uniform", 10, 15000, "uniform", 0.0),
    "asymp-small-shift": (11, 12000, "exp", 12, 15000, "exp", 0.02),
    "asymp-shift": (13, 20000, "uniform", 14, 30000, "uniform", 0.01),
    "asymp-large": (15, 60000, "exp", 16, 50000, "exp", 0.003),
}.items():
    a = sample(sa, na, ka)
    b = sample(sb, nb, kb, shift)
    ks = stats.ks_2samp(a, b, method="auto")
    ra = sorted(a)
    edges = bins(ra)
    pr, pc = proportions(a, edges), proportions(b, edges)
    cases.append({
        "name": name, "a": [sa, na, ka, 0.0], "b": [sb, nb, kb, shift],
        "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
        "wasserstein": float(stats.wasserstein_distance(a, b)),
        "wasserstein_normed": float(stats.wasserstein_distance(a, b) / np.std(a)),
        "psi": psi(pr, pc),
        "jensen_shannon": float(distance.jensenshannon(pr, pc)),
    })

categorical = []
for name, ref, cur in [
    ("same", {"sun": 500, "rain": 300, "fog": 200}, {"sun": 250, "rain": 150, "fog": 100}),
    ("shifted", {"sun": 500, "rain": 300, "fog": 200}, {"sun": 200, "rain": 250, "fog": 50}),
    ("missing-in-current", {"sun": 40, "rain": 35, "snow": 25}, {"sun": 60, "rain": 40}),
]:
    keys = sorted(set(ref) | set(cur))
    n_ref, n_cur = sum(ref.values()), sum(cur.values())
    f_obs = [cur.get(k, 0) for k in keys]
    f_exp = [ref.get(k, 0) * n_cur / n_ref for k in keys]
    chi = stats.chisquare(f_obs, f_exp)
    p = [ref.get(k, 0) / n_ref for k in keys]
    q = [cur.get(k, 0) / n_cur for k in keys]
    categorical.append({
        "name": name, "reference": ref, "current": cur,
        "chi_statistic": float(chi.statistic), "chi_pvalue": float(chi.pvalue),
        "jensen_shannon": float(distance.jensenshannon(p, q)),
        "l_infinity": max(abs(x - y) for x, y in zip(p, q)),
    })

# The one-sample Kolmogorov distribution on each of its branches
# (Durbin matrix, Pelz-Good, Smirnov, Ruben-Gambino).
kolmogorov = [{"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))}
              for n, x in [(6667, 0.003), (50000, 0.0012), (6667, 0.0082), (27273, 0.0044),
                           (12000, 0.0195), (500000, 0.002), (500000, 0.0005), (1000, 0.0009)]]

print(json.dumps({"numeric": cases, "categorical": categorical, "kolmogorov": kolmogorov}, indent=1))
