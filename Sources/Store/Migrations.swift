import GRDB

/// The store's schema, as named migrations. A shipped migration is never edited: changes come
/// as new migrations, because runs are data and must survive upgrades.
enum StoreMigrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: runs, events, intervals, perturbations, checkpoints, schedules") { db in
            try db.create(table: "run") { t in
                t.primaryKey("id", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("status", .text).notNull()
                t.column("searchConfiguration", .text).notNull()
                t.column("trainingConfiguration", .text).notNull()
                t.column("seed", .integer).notNull()
                t.column("pbaVersion", .text).notNull()
                t.column("gitRevision", .text).notNull()
                t.column("commandLine", .text).notNull()
                t.column("finishedAt", .datetime)
            }
            try db.create(table: "searchEvent") { t in
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("sequence", .integer).notNull()
                t.column("kind", .text).notNull()
                t.column("payload", .text).notNull()
                t.column("recordedAt", .datetime).notNull()
                t.primaryKey(["runId", "sequence"])
            }
            try db.create(table: "interval") { t in
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("assignmentId", .integer).notNull()
                t.column("member", .integer).notNull()
                t.column("epochStart", .integer).notNull()
                t.column("epochEnd", .integer).notNull()
                t.column("policy", .text).notNull()
                t.column("trainingSeed", .integer).notNull()
                t.column("worker", .text)
                t.column("startedAt", .datetime).notNull()
                t.column("finishedAt", .datetime)
                t.column("validationAccuracy", .double)
                t.column("trainLoss", .double)
                t.column("checkpointSha256", .text)
                t.primaryKey(["runId", "assignmentId"])
            }
            try db.create(table: "perturbation") { t in
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("sequence", .integer).notNull()
                t.column("target", .integer).notNull()
                t.column("source", .integer).notNull()
                t.column("targetEpoch", .integer).notNull()
                t.column("sourceEpoch", .integer).notNull()
                t.column("sourcePolicy", .text).notNull()
                t.column("newPolicy", .text).notNull()
                t.column("recordedAt", .datetime).notNull()
                t.primaryKey(["runId", "sequence"])
            }
            try db.create(table: "checkpoint") { t in
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("assignmentId", .integer).notNull()
                t.column("member", .integer).notNull()
                t.column("epoch", .integer).notNull()
                t.column("sha256", .text).notNull().indexed()
                t.column("size", .integer).notNull()
                t.column("createdAt", .datetime).notNull()
                t.primaryKey(["runId", "assignmentId"])
            }
            try db.create(table: "schedule") { t in
                t.autoIncrementedPrimaryKey("rowid")
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("createdAt", .datetime).notNull()
                t.column("document", .text).notNull()
            }
        }
        m.registerMigration("v2: evaluation cells") { db in
            // Keyed by what was trained, not by which evaluation asked: an evaluation that is
            // rerun, resumed or extended with new candidates finds its finished cells here.
            try db.create(table: "evaluationCell") { t in
                t.column("jobKey", .text).notNull()
                t.column("candidateKey", .text).notNull()
                t.column("seed", .integer).notNull()
                t.column("candidate", .text).notNull()
                t.column("testAccuracy", .double).notNull()
                t.column("trainLoss", .double).notNull()
                t.column("seconds", .double).notNull()
                t.column("predictions", .blob).notNull()
                t.column("worker", .text)
                t.column("pbaVersion", .text).notNull()
                t.column("finishedAt", .datetime).notNull()
                t.primaryKey(["jobKey", "candidateKey", "seed"])
            }
        }
        m.registerMigration("v3: worker sessions") { db in
            // What the coordinator knows about its workers, for readers next to it (the
            // dashboard): who joined, when each was last heard from, and why it left. Not keyed to
            // `run` by a foreign key: an evaluation's workers have no run row.
            try db.create(table: "workerSession") { t in
                t.column("runId", .text).notNull()
                t.column("workerId", .text).notNull()
                t.column("hostname", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("threads", .integer).notNull()
                t.column("joinedAt", .datetime).notNull()
                t.column("lastSeenAt", .datetime).notNull()
                t.column("leftAt", .datetime)
                t.column("leftReason", .text)
                t.primaryKey(["runId", "workerId"])
            }
        }
        return m
    }
}
