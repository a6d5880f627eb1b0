import Foundation
import SlipwayTracking

// `slipway-mlflow`: the MLflow-compatible tracking endpoint of one `slipway run`, started
// by the run when a stage first connects (docs/mlflow.md). The run hands it the listening
// socket as descriptor 3 and its end of a socket pair as descriptor 4; it is not meant to
// be started by hand.
/// Whether `fd` is a socket, and whether it is listening.
func socketState(_ fd: Int32) -> (isSocket: Bool, listening: Bool) {
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return (false, false) }
    var on: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    return (true, getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on != 0)
}

guard CommandLine.arguments.count == 1, socketState(3).listening, socketState(4).isSocket else {
    FileHandle.standardError.write(Data("slipway-mlflow serves the MLflow endpoint of a `slipway run`, which starts it with its listening socket and a socket pair; it takes no arguments\n".utf8))
    exit(2)
}
// Whatever else it inherited (descriptors the run's own parent left open) is not its to hold.
for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
    if let fd = Int32(name), fd > 4 { close(fd) }
}
exit(TrackingHost.run(listening: 3, control: 4))
