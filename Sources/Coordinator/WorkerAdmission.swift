import Wire

/// Whether a worker that said HELLO may work for a run: a pure decision over the HELLO and the
/// run's job, so it is tested without sockets. A refusal names what is wrong and what to start
/// instead.
public enum WorkerAdmission {
    /// Nil when `hello` is admitted; else the error to send back.
    public static func refusal(of hello: Hello, job: JobDescription, runId: String, endpoint: String) -> ErrorMessage? {
        guard hello.protocolVersion == WireCodec.protocolVersion, hello.pbaVersion == PBARelease.version else {
            return ErrorMessage(code: .versionMismatch,
                message: "worker runs pba \(hello.pbaVersion) (protocol \(hello.protocolVersion)); this run needs pba \(PBARelease.version) (protocol \(WireCodec.protocolVersion))")
        }
        let accepted = job.acceptedWorker
        guard hello.identity != accepted else { return nil }
        let what: String
        if hello.identity.kind != accepted.kind {
            what = "run \(runId) trains with \(accepted.kind) workers and refuses \(hello.identity.kind) workers: their checkpoints cannot be shared"
        } else {
            what = "run \(runId) trains model '\(accepted.model)', this worker declares model '\(hello.identity.model)'"
        }
        return ErrorMessage(code: .refused, message: "\(what); start `\(accepted.startCommand(endpoint: endpoint))` instead")
    }
}
