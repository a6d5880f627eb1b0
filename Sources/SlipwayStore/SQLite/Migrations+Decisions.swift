import SlipwayCore
import GRDB

extension RegistryMigrations {
    /// v5 onwards: images, approvals, deployments, monitors and triggers, and
    /// the columns later versions added.
    static func registerDecisions(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5-images") { db in
            try db.execute(sql: "ALTER TABLE modelVersion ADD COLUMN imageDigest TEXT")
        }
        m.registerMigration("v6-approvals") { db in
            try db.execute(sql: """
                CREATE TABLE approvalRequest (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    model TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    environment TEXT NOT NULL,
                    packageDigest TEXT,
                    reasons TEXT NOT NULL,
                    evidence TEXT NOT NULL,
                    requester TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    expiresAt INTEGER NOT NULL,
                    requiredApprovals INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    resolvedAt INTEGER
                );
                CREATE INDEX approvalRequest_status ON approvalRequest(status, id);
                CREATE TABLE approvalVote (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    requestID INTEGER NOT NULL REFERENCES approvalRequest(id),
                    approver TEXT NOT NULL,
                    keyFingerprint TEXT NOT NULL,
                    decision TEXT NOT NULL,
                    comment TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    payload TEXT NOT NULL,
                    signature TEXT NOT NULL,
                    UNIQUE(requestID, keyFingerprint)
                );
                """)
        }
        m.registerMigration("v7-deployments") { db in
            try db.execute(sql: """
                CREATE TABLE deployment (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    environment TEXT NOT NULL,
                    model TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    stableVersion INTEGER,
                    steps TEXT NOT NULL,
                    state TEXT NOT NULL,
                    phase TEXT NOT NULL,
                    step INTEGER NOT NULL,
                    traffic INTEGER NOT NULL,
                    dueAt INTEGER,
                    inconclusive INTEGER NOT NULL,
                    watchUntil INTEGER,
                    ending TEXT,
                    startedAt INTEGER NOT NULL,
                    updatedAt INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    detail TEXT NOT NULL
                );
                CREATE INDEX deployment_env ON deployment(environment, id);
                CREATE INDEX deployment_state ON deployment(state);
                CREATE TABLE deployCall (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    callID TEXT NOT NULL UNIQUE,
                    deploymentID INTEGER,
                    environment TEXT NOT NULL,
                    model TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    stableVersion INTEGER,
                    traffic INTEGER NOT NULL,
                    startedAt INTEGER NOT NULL,
                    finishedAt INTEGER,
                    outcome TEXT,
                    ok BOOLEAN,
                    log TEXT,
                    owner TEXT
                );
                CREATE INDEX deployCall_env ON deployCall(environment, id);
                CREATE TABLE analysisSample (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    deploymentID INTEGER NOT NULL,
                    step INTEGER NOT NULL,
                    metric TEXT NOT NULL,
                    value REAL,
                    production REAL,
                    condition TEXT NOT NULL,
                    verdict TEXT NOT NULL,
                    explanation TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                CREATE INDEX analysisSample_deployment ON analysisSample(deploymentID, id);
                """)
        }
        m.registerMigration("v8-monitors-and-triggers") { db in
            try db.execute(sql: """
                CREATE TABLE monitorBatch (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    monitor TEXT NOT NULL,
                    contentHash TEXT NOT NULL,
                    source TEXT NOT NULL,
                    rows INTEGER NOT NULL,
                    receivedAt INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    driftedFeatures INTEGER NOT NULL,
                    features INTEGER NOT NULL,
                    driftShare REAL,
                    reason TEXT NOT NULL,
                    performance TEXT NOT NULL,
                    UNIQUE(monitor, contentHash)
                );
                CREATE INDEX monitorBatch_monitor ON monitorBatch(monitor, id);
                CREATE TABLE monitorScore (
                    batchID INTEGER NOT NULL,
                    monitor TEXT NOT NULL,
                    feature TEXT NOT NULL,
                    method TEXT NOT NULL,
                    score REAL NOT NULL,
                    threshold REAL NOT NULL,
                    drifted BOOLEAN NOT NULL,
                    histogram TEXT NOT NULL,
                    PRIMARY KEY (batchID, feature)
                ) WITHOUT ROWID;
                CREATE INDEX monitorScore_feature ON monitorScore(monitor, feature, batchID);
                CREATE TABLE monitorAlert (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    monitor TEXT NOT NULL,
                    batchID INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    triggerID INTEGER,
                    suppressed TEXT
                );
                CREATE INDEX monitorAlert_monitor ON monitorAlert(monitor, id);
                CREATE TABLE triggerEvent (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    pipeline TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    key TEXT NOT NULL,
                    cause TEXT NOT NULL,
                    firedAt INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    runID INTEGER,
                    UNIQUE(pipeline, key)
                );
                CREATE INDEX triggerEvent_state ON triggerEvent(pipeline, state);
                CREATE INDEX triggerEvent_run ON triggerEvent(runID);
                """)
        }
        m.registerMigration("v9-approval-use") { db in
            // The deployment that carried out an approved request (used once).
            // Requests approved before this was recorded count as used when a
            // deployment of theirs started after the approval (0 when the
            // version only went live, before deployments were recorded).
            try db.execute(sql: """
                ALTER TABLE approvalRequest ADD COLUMN deploymentID INTEGER;
                UPDATE approvalRequest SET deploymentID = COALESCE(
                    (SELECT MIN(d.id) FROM deployment d WHERE d.model = approvalRequest.model AND d.version = approvalRequest.version
                        AND d.environment = approvalRequest.environment AND d.startedAt >= COALESCE(approvalRequest.resolvedAt, 0)),
                    (SELECT 0 FROM aliasEvent a WHERE a.model = approvalRequest.model AND a.version = approvalRequest.version
                        AND a.environment = approvalRequest.environment AND a.at >= COALESCE(approvalRequest.resolvedAt, 0) LIMIT 1))
                WHERE status = 'approved';
                """)
        }
        m.registerMigration("v10-cluster-jobs") { db in
            try db.execute(sql: """
                ALTER TABLE run ADD COLUMN cancelRequestedAt INTEGER;
                ALTER TABLE stageRun ADD COLUMN jobStatus TEXT;
                """)
        }
        m.registerMigration("v11-alias-cause") { db in
            // Why each live-version change was made, typed (nil on older rows).
            try db.execute(sql: "ALTER TABLE aliasEvent ADD COLUMN cause TEXT")
        }
        m.registerMigration("v12-tracked-values") { db in
            // What stages logged through the tracking endpoint besides
            // metrics: params, tags, artifacts (digest and size), inputs.
            try db.execute(sql: """
                CREATE TABLE trackedValue (
                    runID INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    stageRunID INTEGER NOT NULL,
                    stage TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    size INTEGER,
                    at INTEGER NOT NULL,
                    PRIMARY KEY (stageRunID, kind, key)
                ) WITHOUT ROWID;
                CREATE INDEX trackedValue_run ON trackedValue(runID);
                """)
        }
        m.registerMigration("v13-metric-series-by-stage-run") { db in
            // A cache hit copies a stage run's metrics: found by its id, not by a scan.
            try db.execute(sql: "CREATE INDEX metricSeries_stageRun ON metricSeries(stageRunID)")
        }
        m.registerMigration("v14-analysis-measurements") { db in
            // A canary step is judged by several measurements: each one's
            // round and number, and the evidence (query as sent, raw answer).
            try db.execute(sql: """
                ALTER TABLE analysisSample ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE analysisSample ADD COLUMN measurement INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE analysisSample ADD COLUMN source TEXT;
                ALTER TABLE analysisSample ADD COLUMN query TEXT;
                ALTER TABLE analysisSample ADD COLUMN answer TEXT;
                CREATE INDEX analysisSample_round ON analysisSample(deploymentID, step, round, id);
                """)
        }
        m.registerMigration("v15-approval-request-reason") { db in
            // Why the requester asked (`promote --reason`): kept with the request,
            // shown to approvers; NULL on requests made before it was kept.
            try db.execute(sql: "ALTER TABLE approvalRequest ADD COLUMN reason TEXT")
        }
        m.registerMigration("v16-param-overrides") { db in
            // A param value given on the command line (`run --set`, a sweep), not read from params.yaml.
            try db.execute(sql: "ALTER TABLE param ADD COLUMN overridden INTEGER NOT NULL DEFAULT 0")
        }
        m.registerMigration("v17-alias-cause-backfill") { db in
            // Changes recorded before causes were get theirs once, from their
            // message (every rollback's starts with "rollback"), so no
            // decision reads a message afterwards.
            try db.execute(sql: """
                UPDATE aliasEvent SET cause = CASE WHEN substr(reason, 1, 8) = 'rollback' THEN 'rollback' ELSE 'promotion' END
                WHERE cause IS NULL
                """)
        }
        m.registerMigration("v18-image-pushes") { db in
            // Where each version's image was pushed (an image registry
            // reference and the digest there): promotion reads its referrers
            // back from there by that digest.
            try db.execute(sql: """
                CREATE TABLE imagePush (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    model TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    reference TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    pushedAt INTEGER NOT NULL,
                    pushedBy TEXT NOT NULL
                );
                CREATE INDEX imagePush_version ON imagePush(model, version, id);
                """)
        }
        m.registerMigration("v19-stage-run-index") { db in
            // stageRun(stage, status) took each stage row twice a run (added pending,
            // then moved to how it ended), each time at its stage name's place: a run
            // of 1,000 stages wrote into most of the index's pages. No query here uses
            // it: the newest completed run of a stage is found through
            // run(pipeline, id) and stageRun(runID, stage).
            try db.execute(sql: "DROP INDEX IF EXISTS stageRun_stage")
        }
        m.registerMigration("v20-run-made-version") { db in
            // The version a run made, registered or made again (a run gone back
            // to an earlier config finishes as that version): what rankings show.
            // A run finishing looks its outputs' version up by digest.
            try db.execute(sql: """
                ALTER TABLE run ADD COLUMN madeVersionID INTEGER;
                CREATE INDEX modelVersion_digest ON modelVersion(model, artifactDigest, version);
                """)
        }
    }
}
