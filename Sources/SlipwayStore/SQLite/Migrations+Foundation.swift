import SlipwayCore
import GRDB

extension RegistryMigrations {
    /// v1–v4: runs, stages, metrics, datasets, caches, the audit log and its
    /// witness; models, versions, aliases and gates; validation reports.
    static func registerFoundation(_ m: inout DatabaseMigrator) {
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
    }
}
