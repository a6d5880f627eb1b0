"""The model: fit (softmax regression or k-nearest neighbours) and predict.

As a command: python3 predict.py MODEL.json BATCH.csv  prints BATCH with a `predicted` column.
"""
import csv, json, math, sys

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def fit(rows, arch, epochs=60, lr=0.1, k=15, progress=None):
    classes = sorted({r["weather"] for r in rows})
    xs = [[float(r[f]) for f in FEATURES] for r in rows]
    mean = [sum(c) / len(xs) for c in zip(*xs)]
    std = [max(1e-9, math.sqrt(sum((v - m) ** 2 for v in c) / len(xs))) for c, m in zip(zip(*xs), mean)]
    zs = [[(v - m) / s for v, m, s in zip(x, mean, std)] for x in xs]
    model = {"arch": arch, "features": FEATURES, "classes": classes, "mean": mean, "std": std}
    if arch == "knn":
        model.update(k=k, points=zs, labels=[r["weather"] for r in rows])
        return model
    if arch != "softmax":
        raise SystemExit(f"model.arch must be softmax or knn, not {arch!r}")
    xs = [z + [1.0] for z in zs]
    ys = [classes.index(r["weather"]) for r in rows]
    w = [[0.0] * (len(FEATURES) + 1) for _ in classes]
    for epoch in range(1, epochs + 1):
        grad = [[0.0] * len(w[0]) for _ in classes]
        loss = 0.0
        for x, y in zip(xs, ys):
            z = [sum(a * b for a, b in zip(wc, x)) for wc in w]
            top = max(z)
            e = [math.exp(v - top) for v in z]
            s = sum(e)
            loss -= math.log(max(e[y] / s, 1e-12))
            for c in range(len(classes)):
                g = e[c] / s - (1.0 if c == y else 0.0)
                for j, xj in enumerate(x):
                    grad[c][j] += g * xj
        for c in range(len(classes)):
            for j in range(len(w[c])):
                w[c][j] -= lr * grad[c][j] / len(xs)
        if progress:
            progress(epoch, epochs, loss / len(xs))
    model["weights"] = w
    return model


def predict(model, row):
    x = [(float(row[f]) - m) / s for f, m, s in zip(model["features"], model["mean"], model["std"])]
    if model["arch"] == "knn":
        near = sorted((sum((a - b) ** 2 for a, b in zip(x, p)), l) for p, l in zip(model["points"], model["labels"]))[: model["k"]]
        votes = {}
        for _, label in near:
            votes[label] = votes.get(label, 0) + 1
        return max(sorted(votes), key=lambda c: votes[c])
    z = [sum(a * b for a, b in zip(wc, x + [1.0])) for wc in model["weights"]]
    return model["classes"][z.index(max(z))]


if __name__ == "__main__":
    model = json.load(open(sys.argv[1]))
    with open(sys.argv[2], newline="") as f:
        rows = list(csv.DictReader(f))
    out = csv.DictWriter(sys.stdout, fieldnames=list(rows[0].keys()) + ["predicted"])
    out.writeheader()
    for r in rows:
        r["predicted"] = predict(model, r)
        out.writerow(r)
