import SlipwayCore
import GRDB

/// The registry's schema, one migration per released change. Migrations are
/// never edited once shipped: a change is a new migration appended here.
enum RegistryMigrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-foundation") { db in
            try db.execute(sql: """
                CREATE TABLE run (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    pipeline TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    status TEXT NOT NULL,
                    startedAt INTEGER NOT NULL,
                    endedAt INTEGER,
                    pid INTEGER NOT NULL,
                    host TEXT NOT NULL,
                    heartbeatAt INTEGER NOT NULL,
                    user TEXT NOT NULL,
                    gitCommit TEXT,
                    gitDirty BOOLEAN,
                    slipwayVersion TEXT NOT NULL,
                    message TEXT
                );
                CREATE INDEX run_status ON run(status);
                CREATE INDEX run_pipeline ON run(pipeline, id);

                CREATE TABLE stageRun (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    stage TEXT NOT NULL,
                    status TEXT NOT NULL,
                    startedAt INTEGER,
                    endedAt INTEGER,
                    exitCode INTEGER,
                    cacheKey TEXT,
                    reason TEXT NOT NULL DEFAULT '',
                    inputs TEXT,
                    logPath TEXT,
                    message TEXT,
                    pid INTEGER,
                    UNIQUE(runID, stage)
                );
                CREATE INDEX stageRun_stage ON stageRun(stage, status);

                CREATE TABLE param (
                    runID INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (runID, key)
                ) WITHOUT ROWID;

                -- A metric series is one key reported by one stage run; its
                -- points are stored narrow (ids and numbers only) so millions
                -- of them stay small and fast to write and to read back.
                CREATE TABLE metricSeries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL,
                    stageRunID INTEGER NOT NULL DEFAULT 0,
                    stage TEXT NOT NULL,
                    key TEXT NOT NULL,
                    UNIQUE(runID, stageRunID, stage, key)
                );
                CREATE TABLE metricPoint (
                    seriesID INTEGER NOT NULL,
                    step INTEGER,
                    value REAL,  -- NULL holds NaN (SQLite has no NaN)
                    timestamp INTEGER NOT NULL
                );
                CREATE INDEX metricPoint_series ON metricPoint(seriesID);

                CREATE TABLE dataset (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    path TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    addedBy TEXT NOT NULL,
                    addedAt INTEGER NOT NULL,
                    UNIQUE(path, hash)
                );

                CREATE TABLE runDataset (
                    runID INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    stage TEXT NOT NULL,
                    path TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    PRIMARY KEY (runID, stage, path)
                ) WITHOUT ROWID;

                CREATE TABLE artifact (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    stageRunID INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE INDEX artifact_run ON artifact(runID);

                CREATE TABLE cacheEntry (
                    key TEXT PRIMARY KEY NOT NULL,
                    pipeline TEXT NOT NULL,
                    stage TEXT NOT NULL,
                    stageRunID INTEGER NOT NULL,
                    outputs TEXT NOT NULL,
                    createdAt INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE fileState (
                    path TEXT PRIMARY KEY NOT NULL,
                    size INTEGER NOT NULL,
                    mtimeNanos INTEGER NOT NULL,
                    inode INTEGER NOT NULL,
                    hash TEXT NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE auditEvent (
                    seq INTEGER PRIMARY KEY,
                    timestamp INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    prevHash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE TRIGGER auditEvent_no_update BEFORE UPDATE ON auditEvent
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER auditEvent_no_delete BEFORE DELETE ON auditEvent
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        m.registerMigration("v2-models-and-gates") { db in
            try db.execute(sql: """
                CREATE TABLE model (
                    name TEXT PRIMARY KEY NOT NULL,
                    createdAt INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE modelVersion (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    model TEXT NOT NULL REFERENCES model(name),
                    version INTEGER NOT NULL,
                    runID INTEGER NOT NULL REFERENCES run(id),
                    pipeline TEXT NOT NULL,
                    gitCommit TEXT,
                    artifactDigest TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    createdBy TEXT NOT NULL,
                    description TEXT NOT NULL DEFAULT '',
                    tags TEXT NOT NULL DEFAULT '{}',
                    UNIQUE(model, version)
                );
                CREATE INDEX modelVersion_run ON modelVersion(runID);

                CREATE TABLE aliasEvent (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    model TEXT NOT NULL,
                    environment TEXT NOT NULL,
                    version INTEGER,
                    previousVersion INTEGER,
                    at INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL
                );
                CREATE INDEX aliasEvent_lookup ON aliasEvent(model, environment, at, id);

                CREATE TABLE gateResult (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    stageRunID INTEGER NOT NULL,
                    stage TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    condition TEXT NOT NULL,
                    candidate REAL,
                    production REAL,
                    threshold REAL,
                    baselineModel TEXT,
                    baselineVersion INTEGER,
                    passed BOOLEAN NOT NULL,
                    explanation TEXT NOT NULL
                );
                CREATE INDEX gateResult_run ON gateResult(runID);
                CREATE INDEX artifact_stageRun ON artifact(stageRunID);
                """)
        }
        m.registerMigration("v3-validation-reports") { db in
            try db.execute(sql: """
                CREATE TABLE validationReport (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER,
                    stageRunID INTEGER,
                    dataset TEXT NOT NULL,
                    passed BOOLEAN NOT NULL,
                    report TEXT NOT NULL,
                    createdAt INTEGER NOT NULL
                );
                CREATE INDEX validationReport_run ON validationReport(runID);
                CREATE INDEX validationReport_stageRun ON validationReport(stageRunID);
                """)
        }
        m.registerMigration(auditWitness) { db in
            // The executor's handle of a running job (`local:<host>:<pgid>`,
            // later `slurm:<cluster>:<job id>` …), so a dead run's jobs are
            // cancelled by the executor that owns them.
            try db.execute(sql: """
                ALTER TABLE stageRun ADD COLUMN job TEXT;
                ALTER TABLE stageRun ADD COLUMN progressDone INTEGER;
                ALTER TABLE stageRun ADD COLUMN progressTotal INTEGER;
                CREATE INDEX auditEvent_kind ON auditEvent(kind, seq);
                CREATE INDEX auditEvent_subject ON auditEvent(subject, seq);
                CREATE INDEX auditEvent_time ON auditEvent(timestamp);
                """)
        }
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
        return m
    }

    /// The migration after which the chain head is also kept outside the database.
    static let auditWitness = "v4-audit-witness-and-job-handles"

    /// The identifiers of every migration, oldest first.
    static var identifiers: [String] { migrator.migrations }
}
