"""Held-out accuracy against always predicting the most common class, macro F1, latency."""
import csv, json, sys, time
from collections import Counter
from predict import predict

model = json.load(open(sys.argv[1]))
with open(sys.argv[2], newline="") as f:
    rows = list(csv.DictReader(f))
with open("data/train.csv", newline="") as f:
    majority = Counter(r["weather"] for r in csv.DictReader(f)).most_common(1)[0][0]
latencies, preds = [], []
for r in rows:
    t = time.perf_counter()
    preds.append(predict(model, r))
    latencies.append((time.perf_counter() - t) * 1000)
truth = [r["weather"] for r in rows]
accuracy = sum(p == t for p, t in zip(preds, truth)) / len(rows)
baseline = sum(t == majority for t in truth) / len(rows)
f1s = []
for c in sorted(set(truth)):
    tp = sum(p == c and t == c for p, t in zip(preds, truth))
    fp = sum(p == c and t != c for p, t in zip(preds, truth))
    fn = sum(p != c and t == c for p, t in zip(preds, truth))
    f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
latencies.sort()
result = {"accuracy": accuracy, "majority_baseline": baseline, "lift": accuracy - baseline,
          "f1_macro": sum(f1s) / len(f1s), "latency_p95_ms": latencies[int(0.95 * (len(latencies) - 1))]}
json.dump(result, open(sys.argv[3], "w"), indent=2)
print(json.dumps(result))
