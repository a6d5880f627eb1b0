"""Train the classifier chosen by model.arch on the training split."""
import csv, json, os, sys, time
from predict import fit

arch = os.environ.get("SLIPWAY_PARAM_MODEL_ARCH", "softmax")
with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f))

# `slipway demo` paces its first run so its stages can be watched: seconds to wait per epoch.
PACE = float(open(".slipway/demo-pace").read() or 0) if os.path.exists(".slipway/demo-pace") else 0.0

def progress(epoch, epochs, loss):
    if PACE > 0:
        time.sleep(PACE)
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
