"""Scores model.pkl on data/test.csv; writes eval.json with the AUC the gate reads."""
import csv, json, pickle
from predict import score

model = pickle.load(open("model.pkl", "rb"))
rows = list(csv.DictReader(open("data/test.csv")))
scored = sorted((score(model, r), int(r["churned"])) for r in rows)
positives = sum(y for _, y in scored)
negatives = len(scored) - positives
# AUC as the probability that a churner scores above a stayer (ranks, ties halved).
rank_sum, i = 0.0, 0
while i < len(scored):
    j = i
    while j < len(scored) and scored[j][0] == scored[i][0]:
        j += 1
    rank = (i + 1 + j) / 2
    rank_sum += rank * sum(y for _, y in scored[i:j])
    i = j
auc = (rank_sum - positives * (positives + 1) / 2) / max(1, positives * negatives)
json.dump({"auc": round(auc, 4)}, open("eval.json", "w"))
print(f"auc {auc:.4f} on {len(rows)} customers")
