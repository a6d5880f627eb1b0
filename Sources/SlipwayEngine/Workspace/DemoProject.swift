/// The bundled example: the Seattle weather data (vega-datasets 0.9.0, MIT; NOAA)
/// and a small pipeline that prepares it, trains a classifier in plain
/// Python 3 (no packages needed) and evaluates it.
enum DemoProject {
    static var files: [(String, String)] {
        [
            ("slipway.yaml", spec),
            ("params.yaml", params),
            ("schema.yaml", schema),
            ("prepare.py", prepare),
            ("train.py", train),
            ("evaluate.py", evaluate),
            ("data/seattle-weather.csv", DemoData.seattleWeatherCSV),
            ("data/README.md", DemoData.attribution),
        ]
    }

    static let spec = """
    # The Slipway demo: predict Seattle's weather (sun, rain, drizzle, snow, fog)
    # from a day's measurements. Try: slipway run, then edit params.yaml and run again;
    # slipway promote weather-classifier:1 --to production; slipway compare.
    project: seattle-weather

    pipelines:
      weather:
        model: weather-classifier
        stages:
          validate:
            uses: validate
            data: data/seattle-weather.csv
            schema: schema.yaml
          prepare:
            cmd: python3 prepare.py data/seattle-weather.csv
            needs: [validate]
            deps: [prepare.py, data/seattle-weather.csv]
            params: [prepare.test_fraction]
            outs: [data/train.csv, data/test.csv]
          train:
            cmd: python3 train.py data/train.csv model.json
            deps: [train.py, data/train.csv]
            params: [train.epochs, train.lr, model.arch]
            outs: [model.json]
            metrics: [train_metrics.json]
          evaluate:
            cmd: python3 evaluate.py model.json data/test.csv eval.json
            deps: [evaluate.py, model.json, data/test.csv]
            metrics: [eval.json]
            timeout: 5m
            # `production` is the same metric of the version live in production.
            gates: {accuracy: ">= production - 0.02", latency_p95_ms: "<= 50"}

    environments:
      staging: {deploy: "echo deploying to staging"}
      production: {deploy: "echo deploying to production"}

    """

    static let schema = """
    # What the weather data must look like (see docs/validation.md).
    min_rows: 365
    extra_columns: warn
    columns:
      date: {type: string, unique: true, max_missing: 0}
      precipitation: {type: float, min: 0, max: 200, max_missing: 0}
      temp_max: {type: float, min: -30, max: 50, max_missing: 0}
      temp_min: {type: float, min: -40, max: 40, max_missing: 0}
      wind: {type: float, min: 0, max: 40, max_missing: 0}
      weather: {type: string, allowed: [drizzle, rain, sun, snow, fog], max_missing: 0}

    """

    static let params = """
    prepare:
      test_fraction: 0.25
    train:
      epochs: 40
      lr: 0.05
    model:
      arch: softmax

    """

    static let prepare = #"""
    """Split the weather data by time: the last days are the test set."""
    import csv, os, sys

    src = sys.argv[1]
    frac = float(os.environ.get("SLIPWAY_PARAM_PREPARE_TEST_FRACTION", "0.25"))
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    cut = int(len(rows) * (1 - frac))
    fields = ["precipitation", "temp_max", "temp_min", "wind", "weather"]
    for name, part in (("data/train.csv", rows[:cut]), ("data/test.csv", rows[cut:])):
        with open(name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(part)
    print(f"train rows: {cut}, test rows: {len(rows) - cut}")
    print(f"::metric name=train_rows value={cut}")
    """#

    static let train = #"""
    """Multinomial logistic regression by gradient descent, in plain Python."""
    import csv, json, math, os, sys

    FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]
    epochs = int(os.environ.get("SLIPWAY_PARAM_TRAIN_EPOCHS", "40"))
    lr = float(os.environ.get("SLIPWAY_PARAM_TRAIN_LR", "0.05"))

    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["weather"] for r in rows})
    xs = [[float(r[k]) for k in FEATURES] for r in rows]
    mean = [sum(c) / len(xs) for c in zip(*xs)]
    std = [max(1e-9, math.sqrt(sum((v - m) ** 2 for v in c) / len(xs))) for c, m in zip(zip(*xs), mean)]
    xs = [[(v - m) / s for v, m, s in zip(x, mean, std)] + [1.0] for x in xs]
    ys = [classes.index(r["weather"]) for r in rows]
    w = [[0.0] * (len(FEATURES) + 1) for _ in classes]

    def probs(x):
        z = [sum(wi * xi for wi, xi in zip(wc, x)) for wc in w]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        s = sum(e)
        return [v / s for v in e]

    for epoch in range(1, epochs + 1):
        grad = [[0.0] * len(w[0]) for _ in classes]
        loss = 0.0
        correct = 0
        for x, y in zip(xs, ys):
            p = probs(x)
            loss -= math.log(max(p[y], 1e-12))
            correct += p.index(max(p)) == y
            for c in range(len(classes)):
                g = p[c] - (1.0 if c == y else 0.0)
                for j, xj in enumerate(x):
                    grad[c][j] += g * xj
        for c in range(len(classes)):
            for j in range(len(w[c])):
                w[c][j] -= lr * grad[c][j] / len(xs)
        loss /= len(xs)
        print(f"epoch {epoch}/{epochs}  loss={loss:.4f}  acc={correct / len(xs):.4f}", flush=True)
        print(f"::metric name=loss step={epoch} value={loss:.6f}", flush=True)
        print(f"::metric name=train_acc step={epoch} value={correct / len(xs):.6f}", flush=True)

    with open(sys.argv[2], "w") as f:
        json.dump({"features": FEATURES, "classes": classes, "mean": mean, "std": std, "weights": w}, f)
    with open("train_metrics.json", "w") as f:
        json.dump({"loss": loss, "accuracy": correct / len(xs), "epochs": epochs}, f)
    """#

    static let evaluate = #"""
    """Accuracy, macro F1 and prediction latency of the model on the test set."""
    import csv, json, math, sys, time

    model = json.load(open(sys.argv[1]))
    with open(sys.argv[2], newline="") as f:
        rows = list(csv.DictReader(f))
    classes = model["classes"]

    def predict(r):
        x = [(float(r[k]) - m) / s for k, m, s in zip(model["features"], model["mean"], model["std"])] + [1.0]
        z = [sum(wi * xi for wi, xi in zip(wc, x)) for wc in model["weights"]]
        return classes[z.index(max(z))]

    latencies = []
    preds = []
    for r in rows:
        t = time.perf_counter()
        preds.append(predict(r))
        latencies.append((time.perf_counter() - t) * 1000)
    truth = [r["weather"] for r in rows]
    accuracy = sum(p == t for p, t in zip(preds, truth)) / len(rows)
    f1s = []
    for c in sorted(set(truth)):
        tp = sum(p == c and t == c for p, t in zip(preds, truth))
        fp = sum(p == c and t != c for p, t in zip(preds, truth))
        fn = sum(p != c and t == c for p, t in zip(preds, truth))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    result = {"accuracy": accuracy, "f1_macro": sum(f1s) / len(f1s), "latency_p95_ms": p95}
    json.dump(result, open(sys.argv[3], "w"), indent=2)
    print(json.dumps(result))
    """#
}
