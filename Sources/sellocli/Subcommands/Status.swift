import ArgumentParser
import Foundation
import Storage
import Transforms

/// `sellocli status`: the state of a store, its inbox and its archive, for people and monitoring.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the store's watermark, files, rejects, lateness, tier sizes, archive and last tick.",
        usage: """
        sellocli status [--db <path>] [--config <path>] [--inbox <dir>]
                        [--archive <dir>] [--format <format>]
        """,
        discussion: """
        Reads (never writes, never waits for a lock):
          - watermark: the latest accepted event time (ISO 8601 UTC)
          - files: processed (entries in the ledger), pending (regular files not
            starting with `.` in the inbox) and failed (files in
            <inbox>/.sello-failed/, not counting their *.error notes); the inbox
            is --inbox, else the one the last tick of `run` used
          - rows read, accepted and rejected, and rejected rows by reason, over
            the ledger
          - the 10 most recently ingested files and how late each was: the
            store's watermark just before it minus its earliest event time, at
            least 0 (unknown when the ledger has no watermark before the file:
            the first file of a store, or one ingested by an older version)
          - rows and bytes of each tier (bytes from SQLite's dbstat table; left
            out, with a note, when SQLite lacks it)
          - the view-dedupe state: pairs held, and rows of its hash-collision
            overflow table, with a note when there are any (a sign of state written
            by a version before 2026-11-22 with a dedupe bug: rebuild the store)
          - the archive (--archive, else archive.dir of the configuration):
            files, bytes, rows and sources of its manifest, when there is one
          - the last tick of `sellocli run`: its fields as run recorded them
            ("no tick yet" before the first)

        --format json prints one JSON object (for monitoring; absent values are null);
        the other formats print field,value rows.

        Examples:
          sellocli status --db sello.db
          sellocli status --db /data/sello.db --inbox /data/inbox --format json \\
              | jq .watermark
          sellocli status --format csv | grep '^rejects\\.'

        Exit status: 0 ok; 1 the store is missing or cannot be read; 64 usage error;
        78 a bad config file or SELLO_* value.
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .long, help: ArgumentHelp("The inbox `run` reads (default: the one of its last tick).", valueName: "dir"))
    var inbox: String?
    @Option(name: .long, help: ArgumentHelp("The archive directory (default: archive.dir of the configuration).", valueName: "dir"))
    var archive: String?
    @OptionGroup var output: OutputOptions

    static let recentFiles = 10

    func run() throws {
        var flags = ConfigFlags()
        flags.archiveDir = archive
        let config = try store.effectiveConfig(flags)
        let dbPath = config.db.value
        var report = StatusReport(store: dbPath)
        do {
            let s = try SQLiteStore(path: dbPath, tiers: config.tiers.value, readOnly: true)
            report.watermark = try s.watermark()
            report.ledger = try s.ledgerTotals()
            report.latenessKnown = try s.ledgerHasWatermarkBefore()
            report.recent = try s.recentFiles(limit: Status.recentFiles)
            report.tiers = try s.tierSizes()
            report.dedupe = try s.dedupeStateSizes()
            if let t = try s.metaText("last_tick") { report.lastTick = StatusReport.parseTick(t) }
            report.archiveDir = config.archiveDir.value
            report.archive = try archiveManifestTotals(root: config.archiveDir.value)
        } catch {
            throw fail(error)
        }
        report.inbox = inbox ?? report.lastTick?.inbox
        if let dir = report.inbox { report.scanInbox(dir) }
        if output.resolved == .json {
            print(report.json())
        } else {
            let w = ResultWriter(format: output.resolved)
            w.begin(columns: ["field", "value"])
            for (k, v) in report.fields() { w.row([.text(k), .text(v)]) }
            w.end()
        }
    }
}

/// Everything `status` shows, and its two renderings.
struct StatusReport {
    var store: String
    var watermark: Int64?
    var ledger = LedgerTotals()
    var latenessKnown = false
    var recent: [RecentFile] = []
    var tiers: [TierSize] = []
    var dedupe: (pairs: Int64, overflow: Int64) = (0, 0)
    var archiveDir: String?
    var archive: ArchiveTotals?
    var lastTick: Tick?
    var inbox: String?
    var pending: Int?
    var failed: Int?
    var inboxNote: String?

    /// The last tick as `run` stored it: its JSON text, and its fields flattened in order.
    struct Tick {
        var raw: String
        var isObject: Bool
        var fields: [(String, String)]
        var inbox: String?
    }

    static func parseTick(_ text: String) -> Tick {
        guard let data = text.data(using: .utf8), let obj = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
              let dict = obj as? [String: Any] else {
            return Tick(raw: text, isObject: false, fields: [("last_tick", text)], inbox: nil)
        }
        var fields: [(String, String)] = []
        func flatten(_ prefix: String, _ v: Any) {
            if let d = v as? [String: Any] {
                for k in d.keys.sorted() { flatten(prefix + "." + k, d[k]!) }
            } else if let a = v as? [Any] {
                if a.isEmpty { fields.append((prefix, "[]")) }
                for (i, x) in a.enumerated() { flatten("\(prefix)[\(i)]", x) }
            } else if v is NSNull {
                fields.append((prefix, ""))
            } else if let s = v as? String {
                fields.append((prefix, s))
            } else if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]), let s = String(data: d, encoding: .utf8) {
                fields.append((prefix, s))
            } else {
                fields.append((prefix, "\(v)"))
            }
        }
        flatten("last_tick", dict)
        return Tick(raw: text, isObject: true, fields: fields, inbox: dict["inbox"] as? String)
    }

    mutating func scanInbox(_ dir: String) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            inboxNote = "no inbox directory at \(dir)"
            return
        }
        func regularFiles(_ d: String) -> [String] {
            guard let names = try? fm.contentsOfDirectory(atPath: d) else { return [] }
            return names.filter { name in
                guard let a = try? fm.attributesOfItem(atPath: d + "/" + name) else { return false }
                return (a[.type] as? FileAttributeType) == .typeRegular
            }
        }
        pending = regularFiles(dir).filter { !$0.hasPrefix(".") }.count
        failed = regularFiles(dir + "/.sello-failed").filter { !$0.hasSuffix(".error") }.count
    }

    private var dedupeNote: String? {
        dedupe.overflow == 0 ? nil : "\(dedupe.overflow) overflow row(s) in the dedupe state: almost certainly written by a "
            + "version before 2026-11-22 with a dedupe bug; its view counts may be off: rebuild the store "
            + "(sellocli rebuild --from-archive DIR --db NEW)"
    }

    private var tierBytesNote: String? {
        tiers.contains { $0.bytes == nil } ? "tier bytes unavailable: this SQLite has no dbstat table" : nil
    }

    private func lateness(_ f: RecentFile) -> String {
        f.lateness.map { ConfigLoader.formatDuration($0) } ?? "unknown"
    }

    /// field,value rows (every format but json).
    func fields() -> [(String, String)] {
        var out: [(String, String)] = []
        out.append(("store", store))
        out.append(("watermark", watermark.map(Format.iso8601) ?? "none (nothing ingested)"))
        out.append(("files.processed", String(ledger.files)))
        out.append(("files.pending", pending.map(String.init) ?? "unknown"))
        out.append(("files.failed", failed.map(String.init) ?? "unknown"))
        out.append(("inbox", inbox ?? "unknown (no --inbox and no tick yet)"))
        if let inboxNote { out.append(("inbox.note", inboxNote)) }
        out.append(("rows.read", String(ledger.rowsRead)))
        out.append(("rows.accepted", String(ledger.rowsAccepted)))
        out.append(("rows.rejected", String(ledger.rowsRejected)))
        if ledger.rejectedByReason.isEmpty { out.append(("rejects", "none")) }
        for r in ledger.rejectedByReason { out.append(("rejects.\(r.reason)", String(r.rows))) }
        if !latenessKnown { out.append(("recent.note", "lateness unknown: the ledger does not record the watermark before each file")) }
        for (i, f) in recent.enumerated() {
            out.append(("recent.\(i + 1)", "\(f.path) ingested \(Format.iso8601(f.ingestedAt)), \(f.rowsRead) rows, lateness \(lateness(f))"))
        }
        for t in tiers {
            out.append(("tier.\(t.name).rows", String(t.rows)))
            if let b = t.bytes { out.append(("tier.\(t.name).bytes", String(b))) }
        }
        if let n = tierBytesNote { out.append(("tier.note", n)) }
        out.append(("dedupe.pairs", String(dedupe.pairs)))
        out.append(("dedupe.overflow", String(dedupe.overflow)))
        if let n = dedupeNote { out.append(("dedupe.note", n)) }
        if let a = archive {
            out.append(("archive.dir", archiveDir ?? ""))
            out.append(("archive.files", String(a.files)))
            out.append(("archive.bytes", String(a.bytes)))
            out.append(("archive.rows", String(a.rows)))
            out.append(("archive.sources", String(a.sources)))
        } else {
            out.append(("archive", "none at \(archiveDir ?? "?")"))
        }
        if let t = lastTick { out += t.fields } else { out.append(("last_tick", "no tick yet")) }
        return out
    }

    /// One JSON object.
    func json() -> String {
        func opt(_ v: Int64?) -> String { v.map(String.init) ?? "null" }
        func opt(_ v: Int?) -> String { v.map(String.init) ?? "null" }
        func str(_ s: String?) -> String { s.map(jsonString) ?? "null" }
        func time(_ t: Int64?) -> String { t.map { jsonString(Format.iso8601($0)) } ?? "null" }
        var p: [String] = []
        p.append("\"store\":\(jsonString(store))")
        p.append("\"watermark\":\(time(watermark))")
        p.append("\"watermark_unix\":\(opt(watermark))")
        p.append("\"files\":{\"processed\":\(ledger.files),\"pending\":\(opt(pending)),\"failed\":\(opt(failed)),\"inbox\":\(str(inbox)),\"inbox_note\":\(str(inboxNote))}")
        p.append("\"rows\":{\"read\":\(ledger.rowsRead),\"accepted\":\(ledger.rowsAccepted),\"rejected\":\(ledger.rowsRejected)}")
        p.append("\"rejects_by_reason\":{" + ledger.rejectedByReason.map { "\(jsonString($0.reason)):\($0.rows)" }.joined(separator: ",") + "}")
        p.append("\"lateness_known\":\(latenessKnown)")
        p.append("\"recent_files\":[" + recent.map { f in
            "{\"path\":\(jsonString(f.path)),\"sha256\":\(jsonString(f.sha256)),\"ingested_at\":\(time(f.ingestedAt)),\"rows_read\":\(f.rowsRead),"
                + "\"min_event_time\":\(time(f.minTime)),\"max_event_time\":\(time(f.maxTime)),\"watermark_before\":\(time(f.watermarkBefore)),"
                + "\"lateness_seconds\":\(opt(f.lateness))}"
        }.joined(separator: ",") + "]")
        p.append("\"tiers\":[" + tiers.map { "{\"name\":\(jsonString($0.name)),\"width_seconds\":\($0.width),\"rows\":\($0.rows),\"bytes\":\(opt($0.bytes))}" }.joined(separator: ",") + "]")
        p.append("\"tier_bytes_note\":\(str(tierBytesNote))")
        p.append("\"dedupe\":{\"pairs\":\(dedupe.pairs),\"overflow\":\(dedupe.overflow),\"note\":\(str(dedupeNote))}")
        if let a = archive {
            p.append("\"archive\":{\"dir\":\(str(archiveDir)),\"files\":\(a.files),\"bytes\":\(a.bytes),\"rows\":\(a.rows),\"sources\":\(a.sources)}")
        } else {
            p.append("\"archive\":null")
        }
        if let t = lastTick {
            p.append("\"last_tick\":" + (t.isObject ? t.raw.trimmingCharacters(in: .whitespacesAndNewlines) : jsonString(t.raw)))
        } else {
            p.append("\"last_tick\":null")
        }
        return "{" + p.joined(separator: ",") + "}"
    }
}
