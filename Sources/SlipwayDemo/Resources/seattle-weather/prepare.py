"""Split the weather history: a seeded random quarter is the test set."""
import csv, os, random, sys

src = sys.argv[1]
frac = float(os.environ.get("SLIPWAY_PARAM_PREPARE_TEST_FRACTION", "0.25"))
seed = int(os.environ.get("SLIPWAY_PARAM_PREPARE_SEED", "7"))
with open(src, newline="") as f:
    rows = list(csv.DictReader(f))
order = list(range(len(rows)))
random.Random(seed).shuffle(order)
test = set(order[: int(len(rows) * frac)])
fields = ["date", "precipitation", "temp_max", "temp_min", "wind", "weather"]
for name, part in (("data/train.csv", [r for i, r in enumerate(rows) if i not in test]),
                   ("data/test.csv", [r for i, r in enumerate(rows) if i in test])):
    with open(name, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(part)
print(f"history {len(rows)} days ({rows[0]['date']} to {rows[-1]['date']}): train {len(rows) - len(test)}, test {len(test)}")
print(f"::metric name=history_days value={len(rows)}")
