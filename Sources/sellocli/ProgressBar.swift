import Foundation
import Transforms

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    let enabled: Bool
    private var last = 0.0
    private var fileStart = 0.0
    private var currentPath = ""
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled && isatty(2) != 0 }

    func update(_ p: IngestProgress) {
        guard enabled else { return }
        let now = ProcessInfo.processInfo.systemUptime
        if p.path != currentPath { currentPath = p.path; fileStart = now }
        if now - last < 0.2 { return }
        last = now
        let elapsed = max(now - fileStart, 0.001)
        let rate = Double(p.rows) / elapsed
        var line = "\(p.path): \(p.rows) rows, \(Int(rate)) rows/s"
        if let total = p.totalBytes, total > 0 {
            let frac = min(1, Double(p.rawBytesRead) / Double(total))
            let width = 24
            let filled = Int(frac * Double(width))
            let eta = frac > 0 ? elapsed * (1 - frac) / frac : 0
            line = "[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(Int(frac * 100))% " + line
                + ", \(p.rawBytesRead >> 20)/\(total >> 20) MB, ETA \(Int(eta)) s"
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drawn = true
    }

    func clear() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}
