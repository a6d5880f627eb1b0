"""Canary analysis: the error rate of SLIPWAY_ANALYSIS_VERSION on the newest labelled batch."""
import csv, glob, json, os, sys
from predict import predict

version = os.environ["SLIPWAY_ANALYSIS_VERSION"]
batches = sorted(glob.glob("incoming/processed/*.csv"), key=os.path.getmtime)
if not batches or not os.path.exists(f"serving/models/{version}.json"):
    print("{}")  # no data: inconclusive
    sys.exit(0)
model = json.load(open(f"serving/models/{version}.json"))
with open(batches[-1], newline="") as f:
    rows = [r for r in csv.DictReader(f) if r.get("weather")]
wrong = sum(predict(model, r) != r["weather"] for r in rows)
print(json.dumps({"error_rate": wrong / max(1, len(rows)), "rows": len(rows), "batch": os.path.basename(batches[-1])}))
