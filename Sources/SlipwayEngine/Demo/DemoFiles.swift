/// The files of the `slipway demo` workspace: the Seattle weather data, a
/// classifier in plain Python 3 (softmax regression or k-nearest neighbours,
/// chosen by `model.arch`), and a deploy script and a probe that serve the
/// packaged model from its OCI image.
enum DemoFiles {
    static func spec(approverKey: String, signerKey: String, canaryInterval: String) -> String {
        """
        # The Slipway demo: a weather classifier for Seattle, trained on 2012–2013,
        # watched in production while 2014 arrives month by month.
        project: seattle-weather

        pipelines:
          weather:
            model: weather-classifier
            # A new commit or a drifted production batch starts a run (docs/monitors-and-triggers.md).
            triggers: [commit, {drift: weather}]
            stages:
              validate: {uses: validate, data: data/history.csv, schema: schema.yaml}
              prepare:
                cmd: python3 prepare.py data/history.csv
                needs: [validate]
                deps: [prepare.py, data/history.csv]
                params: [prepare.test_fraction, prepare.seed]
                outs: [data/train.csv, data/test.csv]
              train:
                cmd: python3 train.py data/train.csv model.json
                deps: [train.py, predict.py, data/train.csv]
                params: [model.arch, train.epochs, train.lr, train.k]
                outs: [model.json]
                metrics: [train_metrics.json]
              evaluate:
                cmd: python3 evaluate.py model.json data/test.csv eval.json
                deps: [evaluate.py, predict.py, model.json, data/test.csv]
                metrics: [eval.json]
                # lift: accuracy minus always predicting the most common class.
                gates: {accuracy: ">= 0.5", lift: ">= 0.05", latency_p95_ms: "<= 50"}
              package: {uses: package, model: model.json, include: [predict.py], needs: [evaluate]}
              deploy: {uses: deploy, model: weather-classifier, needs: [package]}

        environments:
          dev: {deploy: python3 deploy.py}
          staging: {deploy: python3 deploy.py, auto: true}
          production:
            deploy: python3 deploy.py
            auto: true
            canary:
              steps: [25, 100]
              interval: \(canaryInterval)
              analysis:
                # The canary's error rate on the newest labelled batch, against the stable version's.
                error_rate: {cmd: python3 probe.py, fail_if: "> production + 0.15"}

        policy:
          high_risk_when: [{params_changed: [model.arch]}]
          low_risk_when: [{env: dev}, {env: staging}]
          approvers:
            - {name: Demo Approver, user: demo-approver, key: "\(approverKey)"}
          required_approvals: 1

        signing:
          key: keys/release
          signers: ["\(signerKey)"]

        monitors:
          weather:
            # The last two months the first model saw; batches arrive monthly.
            reference: data/reference.csv
            features:
              temp_max: {method: wasserstein, threshold: 1.0}
              temp_min: {method: wasserstein, threshold: 1.0}
            drift_share: 0.5
            cooldown: 1h
            incoming: incoming
            label: weather
            prediction: predicted

        """
    }

    static let params = """
    prepare:
      test_fraction: 0.25
      seed: 7
    model:
      arch: softmax
    train:
      epochs: 60
      lr: 0.1
      k: 15

    """

    /// The same data contract as `slipway init --demo`.
    static var schema: String { DemoProject.schema }

    static let gitignore = """
    .slipway/
    keys/
    image/
    serving/
    incoming/
    model.json
    eval.json
    train_metrics.json
    data/train.csv
    data/test.csv
    data/history.csv

    """

    static let prepare = #"""
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
    """#

    static let predict = #"""
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
    """#

    static let train = #"""
    """Train the classifier chosen by model.arch on the training split."""
    import csv, json, os, sys
    from predict import fit

    arch = os.environ.get("SLIPWAY_PARAM_MODEL_ARCH", "softmax")
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f))

    def progress(epoch, epochs, loss):
        print(f"epoch {epoch}/{epochs}  loss={loss:.4f}", flush=True)
        print(f"::metric name=loss step={epoch} value={loss:.6f}", flush=True)
        print(f"::progress step={epoch} total={epochs}", flush=True)

    model = fit(rows, arch, epochs=int(os.environ.get("SLIPWAY_PARAM_TRAIN_EPOCHS", "60")),
                lr=float(os.environ.get("SLIPWAY_PARAM_TRAIN_LR", "0.1")), k=int(os.environ.get("SLIPWAY_PARAM_TRAIN_K", "15")),
                progress=progress)
    with open(sys.argv[2], "w") as f:
        json.dump(model, f)
    json.dump({"rows": len(rows), "classes": len(model["classes"])}, open("train_metrics.json", "w"))
    print(f"trained {arch} on {len(rows)} days")
    """#

    static let evaluate = #"""
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
    """#

    static let deploy = #"""
    """Deploy command: serve the version's model from its OCI image.

    Reads the image Slipway packaged (SLIPWAY_IMAGE_OCI = oci:LAYOUT:TAG), extracts
    model/model.json to serving/models/VERSION.json, and records which version takes
    what share of the traffic in serving/ENV.json. Idempotent: a retry with the same
    SLIPWAY_DEPLOYMENT_ID does the same again.
    """
    import io, json, os, sys, tarfile

    env = os.environ
    version, name = env["SLIPWAY_VERSION"], env["SLIPWAY_ENV"]
    os.makedirs("serving/models", exist_ok=True)
    ref = env.get("SLIPWAY_IMAGE_OCI", "")
    if ref.startswith("oci:"):
        layout, tag = ref[4:].rsplit(":", 1)
        index = json.load(open(os.path.join(layout, "index.json")))
        manifest = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
        def blob(digest):
            return open(os.path.join(layout, "blobs", *digest.split(":")), "rb").read()
        image = json.loads(blob(manifest["digest"]))
        with tarfile.open(fileobj=io.BytesIO(blob(image["layers"][-1]["digest"]))) as tar:
            data = tar.extractfile("model/model.json").read()
        with open(f"serving/models/{version}.json.tmp", "wb") as f:
            f.write(data)
        os.replace(f"serving/models/{version}.json.tmp", f"serving/models/{version}.json")
    state = {"version": int(version), "traffic": int(env["SLIPWAY_TRAFFIC"]),
             "stable": int(env["SLIPWAY_STABLE_VERSION"]) if env.get("SLIPWAY_STABLE_VERSION") else None,
             "deployment": env["SLIPWAY_DEPLOYMENT_ID"]}
    with open(f"serving/{name}.json.tmp", "w") as f:
        json.dump(state, f)
    os.replace(f"serving/{name}.json.tmp", f"serving/{name}.json")
    print(f"{name}: {env['SLIPWAY_MODEL']}:{version} takes {state['traffic']}% ({env['SLIPWAY_DEPLOYMENT_ID']})")
    """#

    static let probe = #"""
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
    """#
}
