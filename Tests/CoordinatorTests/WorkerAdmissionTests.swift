import XCTest
import Engine
@testable import Coordinator
@testable import Wire

final class WorkerAdmissionTests: XCTestCase {
    func job(_ worker: WorkerIdentity?) throws -> JobDescription {
        var j = JobDescription(data: "cifar10:x", trainSize: 10, validationSize: 5, splitSeed: 0, model: try ModelSpec(depth: 10, widen: 1),
                               options: TrainingOptions(), padding: 4, flip: true, cutout: 0, dataFingerprint: "f")
        j.worker = worker
        return j
    }

    func hello(_ identity: WorkerIdentity, version: UInt16 = WireCodec.protocolVersion) -> Hello {
        Hello(workerId: "w", pbaVersion: PBARelease.version, protocolVersion: version, threads: 1, hostname: "h", identity: identity)
    }

    func testSameIdentityIsAdmitted() throws {
        XCTAssertNil(WorkerAdmission.refusal(of: hello(.swift), job: try job(nil), runId: "r", endpoint: "tcp://c:5555"))
        XCTAssertNil(WorkerAdmission.refusal(of: hello(.pytorch), job: try job(.pytorch), runId: "r", endpoint: "tcp://c:5555"))
    }

    func testOtherKindIsRefusedWithWhatToStart() throws {
        let r = try XCTUnwrap(WorkerAdmission.refusal(of: hello(.pytorch), job: try job(nil), runId: "r1", endpoint: "tcp://c:5555"))
        XCTAssertEqual(r.code, .refused)
        XCTAssertTrue(r.message.contains("refuses pytorch workers") && r.message.contains("pba worker --connect tcp://c:5555"), r.message)
        let s = try XCTUnwrap(WorkerAdmission.refusal(of: hello(.swift), job: try job(.pytorch), runId: "r2", endpoint: "tcp://c:5555"))
        XCTAssertTrue(s.message.contains("python -m pba_worker --connect tcp://c:5555"), s.message)
    }

    func testOtherModelAndOldProtocolAreRefused() throws {
        let mine = WorkerIdentity(kind: "pytorch", model: "resnet18")
        let r = try XCTUnwrap(WorkerAdmission.refusal(of: hello(.pytorch), job: try job(mine), runId: "r", endpoint: "e"))
        XCTAssertTrue(r.message.contains("resnet18") && r.message.contains("--trainable"), r.message)
        let v = try XCTUnwrap(WorkerAdmission.refusal(of: hello(.swift, version: 2), job: try job(nil), runId: "r", endpoint: "e"))
        XCTAssertEqual(v.code, .versionMismatch)
    }

    /// Jobs without a worker identity keep their JSON (and so evaluation job keys) unchanged.
    func testDefaultIdentityLeavesTheJobKeyAlone() throws {
        let plain = try job(nil)
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        XCTAssertFalse(json.contains("worker"))
        XCTAssertNotEqual(try EvaluationWork.key(of: plain), try EvaluationWork.key(of: try job(.pytorch)))
    }
}
