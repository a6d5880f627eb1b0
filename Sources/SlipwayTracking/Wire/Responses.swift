import SlipwayEngine

// Responses in the shapes of MLflow's protos (`Run`, `Experiment`,
// `LoggedModel`, `FileInfo`), written with ``JSONWriter``.

struct Experiment {
    var id: String
    var name: String
    var artifactLocation: String
    var createdAt: Int64

    func write(_ o: inout JSONWriter.ObjectWriter) {
        o.field("experiment_id", id)
        o.field("name", name)
        o.field("artifact_location", artifactLocation)
        o.field("lifecycle_stage", "active")
        o.field("last_update_time", createdAt)
        o.field("creation_time", createdAt)
        o.keyValues("tags", [("mlflow.note.content", "Runs of slipway pipeline '\(name)'")])
    }
}

extension TrackedRun {
    func writeInfo(_ o: inout JSONWriter.ObjectWriter, artifactURI: String) {
        o.field("run_id", id)
        o.field("run_uuid", id)
        o.field("run_name", name)
        o.field("experiment_id", experimentID)
        o.field("user_id", userID)
        o.field("status", status)
        o.field("start_time", startTime)
        o.field("end_time", endTime)
        o.field("artifact_uri", artifactURI)
        o.field("lifecycle_stage", lifecycleStage)
    }

    func write(_ o: inout JSONWriter.ObjectWriter, artifactURI: String) {
        o.object("info") { writeInfo(&$0, artifactURI: artifactURI) }
        o.object("data") { d in
            d.array("metrics", latestMetrics) { w, m in
                w.object { mo in
                    mo.field("key", m.key)
                    mo.field("value", m.point.value)
                    mo.field("timestamp", m.point.timestamp)
                    mo.field("step", m.point.step)
                }
            }
            d.keyValues("params", paramList)
            d.keyValues("tags", tagList)
        }
        o.object("inputs") { i in
            i.array("dataset_inputs", datasetInputs) { w, input in
                w.object { di in
                    di.keyValues("tags", input.tags.map { ($0.key, $0.value) })
                    di.object("dataset") { ds in
                        ds.field("name", input.name)
                        ds.field("digest", input.digest)
                        ds.field("source_type", input.sourceType)
                        ds.field("source", input.source)
                        ds.field("schema", input.schema)
                        ds.field("profile", input.profile)
                    }
                }
            }
            i.array("model_inputs", modelInputs) { w, id in w.object { $0.field("model_id", id) } }
        }
        o.object("outputs") { out in
            out.array("model_outputs", modelOutputs) { w, m in
                w.object { mo in
                    mo.field("model_id", m.id)
                    mo.field("step", m.step)
                }
            }
        }
    }
}

extension TrackedModel {
    func write(_ o: inout JSONWriter.ObjectWriter, artifactURI: String, metrics: [(key: String, point: TrackedRun.Point)]) {
        o.object("info") { i in
            i.field("model_id", id)
            i.field("experiment_id", experimentID)
            i.field("name", name)
            i.field("creation_timestamp_ms", createdAt)
            i.field("last_updated_timestamp_ms", updatedAt)
            i.field("artifact_uri", artifactURI)
            i.field("status", status)
            i.field("model_type", modelType)
            i.field("source_run_id", sourceRunID)
            i.keyValues("tags", tags)
        }
        o.object("data") { d in
            d.keyValues("params", params)
            d.array("metrics", metrics) { w, m in
                w.object { mo in
                    mo.field("key", m.key)
                    mo.field("value", m.point.value)
                    mo.field("timestamp", m.point.timestamp)
                    mo.field("step", m.point.step)
                    mo.field("model_id", id)
                }
            }
        }
    }
}

extension ArtifactArea.Entry {
    func write(_ w: inout JSONWriter, path: String) {
        w.object { o in
            o.field("path", path)
            o.field("is_dir", isDir)
            o.field("file_size", size)
        }
    }
}
