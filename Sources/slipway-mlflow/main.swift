import Foundation
import SlipwayTracking

// `slipway-mlflow`: the MLflow-compatible tracking endpoint of one `slipway run`, started
// by the run when a stage first connects (docs/mlflow.md). The run hands it the listening
// socket as descriptor 3 and its end of a socket pair as descriptor 4; it is not meant to
// be started by hand.
guard CommandLine.arguments.count == 1, fcntl(3, F_GETFD) >= 0, fcntl(4, F_GETFD) >= 0 else {
    FileHandle.standardError.write(Data("slipway-mlflow serves the MLflow endpoint of a `slipway run`, which starts it; it takes no arguments\n".utf8))
    exit(2)
}
// Whatever else it inherited (descriptors the run's own parent left open) is not its to hold.
for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
    if let fd = Int32(name), fd > 4 { close(fd) }
}
exit(TrackingHost.run(listening: 3, control: 4))
