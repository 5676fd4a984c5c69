import Foundation
import Transforms

/// The figures of one ingest run, as text for stderr and as JSON for `--summary-json`.
struct RunSummary {
    var files: [FileReport]
    var watermark: Int64?
    var dryRun: Bool
    var store: String
    var rejectsPath: String?
    var rejectRowsWritten: Int64
    var seconds: Double
    var startedAt: Date

    static func defaultRejectsPath(forStore db: String) -> String {
        let base = db.hasSuffix(".db") ? String(db.dropLast(3)) : db
        return base + ".rejects.csv.gz"
    }

    func count(_ s: FileReport.Status) -> Int { files.filter { $0.status == s }.count }
    var failed: Int { count(.failed) }
    private var counted: [FileReport] { files.filter { $0.status == .ingested } }
    var rowsRead: Int64 { counted.reduce(0) { $0 + $1.rowsRead } }
    var rowsAccepted: Int64 { counted.reduce(0) { $0 + $1.rowsAccepted } }
    var rejected: [Int64] {
        var r = [Int64](repeating: 0, count: RejectReason.allCases.count)
        for f in counted { for i in r.indices { r[i] += f.rejected[i] } }
        return r
    }
    func sum(_ k: KeyPath<FileReport, Int64>) -> Int64 { counted.reduce(0) { $0 + $1[keyPath: k] } }

    func text() -> String {
        var lines: [String] = []
        for f in files {
            switch f.status {
            case .ingested:
                lines.append("  \(dryRun ? "checked " : "ingested") \(f.path): \(f.rowsRead) rows, \(f.rowsRejected) rejected, \(f.viewsDeduped) views deduped (\(String(format: "%.2f", f.seconds)) s)")
            case .skipped:
                lines.append("  skipped  \(f.path): same content as \(f.duplicateOf ?? "?"), already in the ledger")
            case .empty:
                lines.append("  empty    \(f.path): no rows")
            case .failed:
                lines.append("  FAILED   \(f.path): \(f.error ?? "failed"); nothing from it was stored")
            }
        }
        let rej = rejected
        let rejTotal = rej.reduce(0, +)
        var reasons = RejectReason.allCases.filter { rej[$0.rawValue] > 0 }.map { "\($0.code) \(rej[$0.rawValue])" }.joined(separator: ", ")
        if reasons.isEmpty { reasons = "none" }
        let rate = seconds > 0 ? Double(rowsRead) / seconds : 0
        lines.append("sellocli ingest\(dryRun ? " --dry-run (nothing was written)" : ""): \(files.count) file(s): \(count(.ingested)) \(dryRun ? "checked" : "ingested"), \(count(.skipped)) skipped, \(count(.empty)) empty, \(failed) failed")
        lines.append("  rows read \(rowsRead) = accepted \(rowsAccepted) + rejected \(rejTotal) (\(reasons))")
        lines.append("  views deduped \(sum(\.viewsDeduped)), corrections \(sum(\.corrections)), late views beyond the dedupe horizon \(sum(\.lateViews))")
        lines.append("  stat rows \(dryRun ? "to change" : "changed") \(sum(\.statRowsChanged)), watermark \(watermark.map(Format.iso8601) ?? "none")")
        if let rejectsPath { lines.append("  rejected rows written to \(rejectsPath)") }
        lines.append("  \(String(format: "%.2f", seconds)) s, \(Int(rate)) rows/s")
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        func opt(_ t: Int64?) -> String { t.map { "\"\(Format.iso8601($0))\"" } ?? "null" }
        func reasons(_ r: [Int64]) -> String {
            "{" + RejectReason.allCases.map { "\"\($0.code)\":\(r[$0.rawValue])" }.joined(separator: ",") + "}"
        }
        let fileJSON = files.map { f in
            """
            {"path":\(jsonString(f.path)),"status":"\(f.status.rawValue)","sha256":"\(f.sha256)","bytes":\(f.bytes),"format":"\(f.format.rawValue)",\
            "rows_read":\(f.rowsRead),"rows_accepted":\(f.rowsAccepted),"rows_rejected":\(f.rowsRejected),"rejected_by_reason":\(reasons(f.rejected)),\
            "views_deduped":\(f.viewsDeduped),"corrections":\(f.corrections),"late_views":\(f.lateViews),"stat_rows_changed":\(f.statRowsChanged),\
            "min_event_time":\(opt(f.minTime)),"max_event_time":\(opt(f.maxTime)),"duplicate_of":\(f.duplicateOf.map(jsonString) ?? "null"),\
            "error":\(f.error.map(jsonString) ?? "null"),"seconds":\(String(format: "%.3f", f.seconds))}
            """
        }
        let iso = ISO8601DateFormatter()
        return """
        {"store":\(jsonString(store)),"dry_run":\(dryRun),"started_at":"\(iso.string(from: startedAt))","seconds":\(String(format: "%.3f", seconds)),\
        "files":\(files.count),"files_ingested":\(count(.ingested)),"files_skipped":\(count(.skipped)),"files_empty":\(count(.empty)),"files_failed":\(failed),\
        "rows_read":\(rowsRead),"rows_accepted":\(rowsAccepted),"rows_rejected":\(rejected.reduce(0, +)),"rejected_by_reason":\(reasons(rejected)),\
        "views_deduped":\(sum(\.viewsDeduped)),"corrections":\(sum(\.corrections)),"late_views":\(sum(\.lateViews)),\
        "stat_rows_changed":\(sum(\.statRowsChanged)),"watermark":\(opt(watermark)),"rejects_file":\(rejectsPath.map(jsonString) ?? "null"),\
        "rows_per_second":\(seconds > 0 ? Int(Double(rowsRead) / seconds) : 0),"per_file":[\(fileJSON.joined(separator: ","))]}
        """
    }
}
