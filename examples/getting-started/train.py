"""Trains a small logistic regression on data/train.csv; writes model.pkl.

Reads train.lr and model.arch from the environment (SLIPWAY_PARAM_TRAIN_LR,
SLIPWAY_PARAM_MODEL_ARCH) and prints ::metric and ::progress lines for the console.
"""
import csv, math, os, pickle

lr = float(os.environ.get("SLIPWAY_PARAM_TRAIN_LR", "0.1"))
arch = os.environ.get("SLIPWAY_PARAM_MODEL_ARCH", "logistic")
rows = list(csv.DictReader(open("data/train.csv")))
xs = [(float(r["tenure"]) / 72, float(r["monthly_charges"]) / 120) for r in rows]
ys = [int(r["churned"]) for r in rows]
w, b = [0.0, 0.0], 0.0
epochs = 40
for epoch in range(1, epochs + 1):
    loss = 0.0
    for (x1, x2), y in zip(xs, ys):
        p = 1 / (1 + math.exp(-(w[0] * x1 + w[1] * x2 + b)))
        loss -= y * math.log(p + 1e-9) + (1 - y) * math.log(1 - p + 1e-9)
        g = p - y
        w[0] -= lr * g * x1
        w[1] -= lr * g * x2
        b -= lr * g
    print(f"::metric name=loss value={loss / len(ys):.4f} step={epoch}")
    print(f"::progress step={epoch} total={epochs}")
pickle.dump({"arch": arch, "w": w, "b": b}, open("model.pkl", "wb"))
print(f"trained {arch} with lr={lr}: w={w[0]:.3f},{w[1]:.3f} b={b:.3f}")
