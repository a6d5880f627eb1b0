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
