import SlipwayPostgres

extension PostgresMigrations {
    /// v5 onwards: images, approvals, deployments, monitors and triggers, and
    /// the columns later versions added.
    static let decisions: [Migration] = [
        Migration(identifier: "v5-images", sql: """
            ALTER TABLE modelVersion ADD COLUMN imageDigest \(text);
            """),
        Migration(identifier: "v6-approvals", sql: """
            CREATE TABLE approvalRequest (
                id \(id),
                model \(text) NOT NULL,
                version bigint NOT NULL,
                environment \(text) NOT NULL,
                packageDigest \(text),
                reasons \(text) NOT NULL,
                evidence \(text) NOT NULL,
                requester \(text) NOT NULL,
                createdAt bigint NOT NULL,
                expiresAt bigint NOT NULL,
                requiredApprovals bigint NOT NULL,
                status \(text) NOT NULL,
                resolvedAt bigint
            );
            CREATE INDEX approvalRequest_status ON approvalRequest(status, id);
            CREATE TABLE approvalVote (
                id \(id),
                requestID bigint NOT NULL REFERENCES approvalRequest(id),
                approver \(text) NOT NULL,
                keyFingerprint \(text) NOT NULL,
                decision \(text) NOT NULL,
                comment \(text) NOT NULL,
                at bigint NOT NULL,
                payload \(text) NOT NULL,
                signature \(text) NOT NULL,
                UNIQUE(requestID, keyFingerprint)
            );
            """),
        Migration(identifier: "v7-deployments", sql: """
            CREATE TABLE deployment (
                id \(id),
                environment \(text) NOT NULL,
                model \(text) NOT NULL,
                version bigint NOT NULL,
                stableVersion bigint,
                steps \(text) NOT NULL,
                state \(text) NOT NULL,
                phase \(text) NOT NULL,
                step bigint NOT NULL,
                traffic bigint NOT NULL,
                dueAt bigint,
                inconclusive bigint NOT NULL,
                watchUntil bigint,
                ending \(text),
                startedAt bigint NOT NULL,
                updatedAt bigint NOT NULL,
                actor \(text) NOT NULL,
                reason \(text) NOT NULL,
                detail \(text) NOT NULL
            );
            CREATE INDEX deployment_env ON deployment(environment, id);
            CREATE INDEX deployment_state ON deployment(state);
            CREATE TABLE deployCall (
                id \(id),
                callID \(text) NOT NULL UNIQUE,
                deploymentID bigint,
                environment \(text) NOT NULL,
                model \(text) NOT NULL,
                version bigint NOT NULL,
                stableVersion bigint,
                traffic bigint NOT NULL,
                startedAt bigint NOT NULL,
                finishedAt bigint,
                outcome \(text),
                ok boolean,
                log \(text),
                owner \(text)
            );
            CREATE INDEX deployCall_env ON deployCall(environment, id);
            CREATE TABLE analysisSample (
                id \(id),
                deploymentID bigint NOT NULL,
                step bigint NOT NULL,
                metric \(text) NOT NULL,
                value double precision,
                production double precision,
                condition \(text) NOT NULL,
                verdict \(text) NOT NULL,
                explanation \(text) NOT NULL,
                at bigint NOT NULL
            );
            CREATE INDEX analysisSample_deployment ON analysisSample(deploymentID, id);
            """),
        Migration(identifier: "v8-monitors-and-triggers", sql: """
            CREATE TABLE monitorBatch (
                id \(id),
                monitor \(text) NOT NULL,
                contentHash \(text) NOT NULL,
                source \(text) NOT NULL,
                rows bigint NOT NULL,
                receivedAt bigint NOT NULL,
                status \(text) NOT NULL,
                driftedFeatures bigint NOT NULL,
                features bigint NOT NULL,
                driftShare double precision,
                reason \(text) NOT NULL,
                performance \(text) NOT NULL,
                UNIQUE(monitor, contentHash)
            );
            CREATE INDEX monitorBatch_monitor ON monitorBatch(monitor, id);
            CREATE TABLE monitorScore (
                batchID bigint NOT NULL,
                monitor \(text) NOT NULL,
                feature \(text) NOT NULL,
                method \(text) NOT NULL,
                score double precision NOT NULL,
                threshold double precision NOT NULL,
                drifted boolean NOT NULL,
                histogram \(text) NOT NULL,
                PRIMARY KEY (batchID, feature)
            );
            CREATE INDEX monitorScore_feature ON monitorScore(monitor, feature, batchID);
            CREATE TABLE monitorAlert (
                id \(id),
                monitor \(text) NOT NULL,
                batchID bigint NOT NULL,
                kind \(text) NOT NULL,
                detail \(text) NOT NULL,
                at bigint NOT NULL,
                triggerID bigint,
                suppressed \(text)
            );
            CREATE INDEX monitorAlert_monitor ON monitorAlert(monitor, id);
            CREATE TABLE triggerEvent (
                id \(id),
                pipeline \(text) NOT NULL,
                kind \(text) NOT NULL,
                key \(text) NOT NULL,
                cause \(text) NOT NULL,
                firedAt bigint NOT NULL,
                state \(text) NOT NULL,
                runID bigint,
                UNIQUE(pipeline, key)
            );
            CREATE INDEX triggerEvent_state ON triggerEvent(pipeline, state);
            CREATE INDEX triggerEvent_run ON triggerEvent(runID);
            """),
        Migration(identifier: "v9-approval-use", sql: """
            -- The deployment that carried out an approved request (used once).
            -- Requests approved before this was recorded count as used when a
            -- deployment of theirs started after the approval (0 when the
            -- version only went live, before deployments were recorded).
            ALTER TABLE approvalRequest ADD COLUMN deploymentID bigint;
            UPDATE approvalRequest SET deploymentID = coalesce(
                (SELECT min(d.id) FROM deployment d WHERE d.model = approvalRequest.model AND d.version = approvalRequest.version
                    AND d.environment = approvalRequest.environment AND d.startedAt >= coalesce(approvalRequest.resolvedAt, 0)),
                (SELECT 0 FROM aliasEvent a WHERE a.model = approvalRequest.model AND a.version = approvalRequest.version
                    AND a.environment = approvalRequest.environment AND a.at >= coalesce(approvalRequest.resolvedAt, 0) LIMIT 1))
            WHERE status = 'approved';
            """),
        Migration(identifier: "v10-cluster-jobs", sql: """
            ALTER TABLE run ADD COLUMN cancelRequestedAt bigint;
            -- What the executor said about the job, as JSON (as in SQLite).
            ALTER TABLE stageRun ADD COLUMN jobStatus \(text);
            """),
        Migration(identifier: "v11-alias-cause", sql: """
            -- Why each live-version change was made, typed (NULL on older rows).
            ALTER TABLE aliasEvent ADD COLUMN cause \(text);
            """),
        Migration(identifier: "v12-tracked-values", sql: """
            -- What stages logged through the tracking endpoint besides metrics.
            CREATE TABLE trackedValue (
                runID bigint NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                stageRunID bigint NOT NULL,
                stage \(text) NOT NULL,
                kind \(text) NOT NULL,
                key \(text) NOT NULL,
                value \(text) NOT NULL,
                size bigint,
                at bigint NOT NULL,
                PRIMARY KEY (stageRunID, kind, key)
            );
            CREATE INDEX trackedValue_run ON trackedValue(runID);
            """),
        Migration(identifier: "v13-metric-series-by-stage-run", sql: """
            CREATE INDEX IF NOT EXISTS metricSeries_stageRun ON metricSeries(stageRunID);
            """),
        Migration(identifier: "v14-analysis-measurements", sql: """
            ALTER TABLE analysisSample ADD COLUMN round integer NOT NULL DEFAULT 0;
            ALTER TABLE analysisSample ADD COLUMN measurement integer NOT NULL DEFAULT 1;
            ALTER TABLE analysisSample ADD COLUMN source text;
            ALTER TABLE analysisSample ADD COLUMN query text;
            ALTER TABLE analysisSample ADD COLUMN answer text;
            CREATE INDEX analysisSample_round ON analysisSample(deploymentID, step, round, id);
            """),
        Migration(identifier: "v15-approval-request-reason", sql: """
            -- Why the requester asked (`promote --reason`); NULL on older requests.
            ALTER TABLE approvalRequest ADD COLUMN IF NOT EXISTS reason \(text);
            """),
        Migration(identifier: "v16-param-overrides", sql: """
            ALTER TABLE param ADD COLUMN overridden boolean NOT NULL DEFAULT false;
            """),
        Migration(identifier: "v17-alias-cause-backfill", sql: """
            -- Changes recorded before causes were get theirs once, from their
            -- message (every rollback's starts with "rollback"), so no decision
            -- reads a message afterwards.
            UPDATE aliasEvent SET cause = CASE WHEN substr(reason, 1, 8) = 'rollback' THEN 'rollback' ELSE 'promotion' END
            WHERE cause IS NULL;
            """),
        Migration(identifier: "v18-image-pushes", sql: """
            CREATE TABLE imagePush (
                id \(id),
                model \(text) NOT NULL,
                version bigint NOT NULL,
                reference \(text) NOT NULL,
                digest \(text) NOT NULL,
                pushedAt bigint NOT NULL,
                pushedBy \(text) NOT NULL
            );
            CREATE INDEX imagePush_version ON imagePush(model, version, id);
            """),
        Migration(identifier: "v19-stage-run-index", sql: """
            -- The newest completed run of a stage is read newest first by id; an index
            -- without the status is not written when a stage row's status changes.
            DROP INDEX IF EXISTS stageRun_stage;
            CREATE INDEX stageRun_stage_id ON stageRun(stage, id);
            """),
        Migration(identifier: "v20-run-made-version", sql: """
            -- The version a run made, registered or made again; a finishing run
            -- looks its outputs' version up by digest.
            ALTER TABLE run ADD COLUMN madeVersionID bigint;
            CREATE INDEX modelVersion_digest ON modelVersion(model, artifactDigest, version);
            """),
    ]
}
