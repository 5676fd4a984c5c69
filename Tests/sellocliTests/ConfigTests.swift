import XCTest
@testable import sellocli
import Transforms

final class ConfigTests: XCTestCase {
    private func resolve(_ text: String, file: String = "sello.toml", env: [String: String] = [:], flags: ConfigFlags = ConfigFlags()) throws -> EffectiveConfig {
        try ConfigLoader.resolve(flags: flags, env: env, file: file, document: try ConfigLoader.parse(text, file: file))
    }

    private func error(_ body: () throws -> Void) -> ConfigError? {
        do { try body() } catch let e as ConfigError { return e } catch { XCTFail("\(error)") }
        return nil
    }

    func testDefaults() throws {
        let c = try ConfigLoader.resolve(flags: ConfigFlags(), env: [:], file: nil, document: nil)
        XCTAssertEqual(c.tiers.value, Tier.defaultPolicy)
        XCTAssertEqual(c.dedupeHorizon.value, 86400)
        XCTAssertEqual(c.acceptedLateness.value, 86400)
        XCTAssertEqual(c.maxRejectRate.value, 0.05)
        XCTAssertEqual(c.archiveDir.value, "archive")
        XCTAssertEqual(c.archivePartition.value, .hour)
        XCTAssertEqual(c.surgeBytes.value, 256 << 20)
        XCTAssertEqual(c.runInterval.value, 60)
        XCTAssertTrue(c.warnings.isEmpty)
    }

    func testPrecedence() throws {
        let text = "dedupe_horizon = \"12h\"\nmax_reject_rate = 0.1\n"
        var flags = ConfigFlags()
        flags.dedupeHorizon = "2h"
        let c = try resolve(text, env: ["SELLO_DEDUPE_HORIZON": "6h", "SELLO_MAX_REJECT_RATE": "20%"], flags: flags)
        XCTAssertEqual(c.dedupeHorizon.value, 7200)
        XCTAssertEqual(c.dedupeHorizon.source, .flag("--dedupe-horizon"))
        XCTAssertEqual(c.maxRejectRate.value, 0.2)
        XCTAssertEqual(c.maxRejectRate.source, .env("SELLO_MAX_REJECT_RATE"))
        let f = try resolve(text)
        XCTAssertEqual(f.dedupeHorizon.value, 43200)
        XCTAssertEqual(f.dedupeHorizon.source, .file("sello.toml", line: 1))
        XCTAssertEqual(f.acceptedLateness.value, 43200)  // follows the horizon
    }

    func testTOMLAndYAMLMeanTheSame() throws {
        let toml = """
        # a comment
        dedupe_horizon = "24h"   # trailing comment
        [[tiers]]
        name = "minute"
        width = "1m"
        retention = "24h"
        [[tiers]]
        name = 'quarter'
        width = "15m"
        retention = "7d"
        [archive]
        partition = "day"
        [run]
        surge_bytes = "1GiB"
        """
        let yaml = """
        ---
        # a comment
        dedupe_horizon: 24h   # trailing comment
        tiers:
        - name: minute
          width: 1m
          retention: "24h"
        - name: 'quarter'
          width: 15m
          retention: 7d
        archive:
          partition: day
        run:
          surge_bytes: 1GiB
        """
        let a = try ConfigLoader.parse(toml, file: "x.toml")
        let b = try ConfigLoader.parse(yaml, file: "x.yaml")
        XCTAssertEqual(a.stripped, b.stripped)
        let c = try resolve(yaml, file: "x.yaml")
        XCTAssertEqual(c.tiers.value.map(\.name), ["minute", "quarter"])
        XCTAssertEqual(c.tiers.value[1], Tier(name: "quarter", width: 900, retention: 7 * 86400))
        XCTAssertEqual(c.surgeBytes.value, 1 << 30)
        XCTAssertEqual(c.archivePartition.value, .day)
    }

    func testTOMLValues() throws {
        let v = try ConfigLoader.parse("""
        a = [1, 2.5, true, "s\\t\\u00e9", 'lit\\']
        b = { x = 1, y.z = "w" }
        c.d = -1_000
        [e.f]
        g = [
          1,  # comment
          2,
        ]
        """, file: "t.toml")
        let root = ConfigCursor(file: "t.toml", value: v)
        let a = try root.child("a")!.array()
        XCTAssertEqual(try a[1].number(), 2.5)
        XCTAssertEqual(try a[2].bool(), true)
        XCTAssertEqual(try a[3].string(), "s\té")
        XCTAssertEqual(try a[4].string(), "lit\\")
        XCTAssertEqual(try root.child("b")!.child("y")!.child("z")!.string(), "w")
        XCTAssertEqual(try root.child("c")!.child("d")!.integer(), -1000)
        XCTAssertEqual(try root.child("e")!.child("f")!.child("g")!.array().count, 2)
    }

    func testParsersRejectOutsideTheSubset() {
        let toml: [(String, String)] = [
            ("a = \"\"\"x\"\"\"", "multi-line"), ("a = 1979-05-27", "dates"), ("a = 0x10", "decimal"),
            ("a = inf", "inf"), ("a = day", "quotes"), ("a = 1\na = 2", "twice"), ("[t]\n[t]", "twice"),
            ("a = 1 b = 2", "one key"), ("a = [1, 2", "unterminated"), ("a = {x = 1,\n}", "same line"),
        ]
        for (text, needle) in toml {
            let e = error { _ = try ConfigLoader.parse(text, file: "t.toml") }
            XCTAssertNotNil(e, text)
            XCTAssertTrue(e?.description.contains(needle) ?? false, "\(text): \(e?.description ?? "")")
        }
        let yaml: [(String, String)] = [
            ("a: &x 1", "anchors"), ("a: *x", "aliases"), ("a: !!str 1", "tags"), ("a: |\n  x", "block scalars"),
            ("a: {b: 1}", "flow mappings"), ("a:", "null"), ("a: ~", "null"), ("a: 1\na: 2", "duplicate"),
            ("a: 1\n  b: 2", "indentation"), ("a:\n\tb: 1", "tabs"), ("a: \"x", "unterminated"), ("a: b: c", "mapping"),
            ("a: 1\n---\nb: 2", "documents"),
        ]
        for (text, needle) in yaml {
            let e = error { _ = try ConfigLoader.parse(text, file: "t.yaml") }
            XCTAssertNotNil(e, text)
            XCTAssertTrue(e?.description.contains(needle) ?? false, "\(text): \(e?.description ?? "")")
        }
    }

    func testErrorsNameFileKeyPathAndLine() {
        let e = error { _ = try resolve("[[tiers]]\nname = \"m\"\nwidth = \"1m\"\n[[tiers]]\nname = \"h\"\nwidth = \"1h\"\nretention = \"soon\"\n") }
        XCTAssertEqual(e?.description, "sello.toml:7: tiers[1].retention: expected a duration like 7d, or unlimited, got \"soon\"")
        let u = error { _ = try resolve("[archive]\npartiton = \"day\"\n") }
        XCTAssertEqual(u?.line, 2)
        XCTAssertEqual(u?.path, "archive.partiton")
        XCTAssertTrue(u?.message.contains("did you mean partition?") ?? false)
        let y = error { _ = try resolve("tiers:\n  - name: minute\n    widht: 1m\n", file: "s.yaml") }
        XCTAssertEqual(y?.path, "tiers[0].widht")
        XCTAssertEqual(y?.line, 3)
    }

    func testTierRules() {
        XCTAssertNotNil(error { _ = try resolve("[[tiers]]\nname = \"Minute\"\nwidth = \"1m\"\n") })
        XCTAssertNotNil(error { _ = try resolve("[[tiers]]\nname = \"m\"\nwidth = \"0s\"\n") })
        XCTAssertNotNil(error { _ = try resolve("[[tiers]]\nname = \"a\"\nwidth = \"1m\"\n[[tiers]]\nname = \"b\"\nwidth = \"60s\"\n") })
        XCTAssertNotNil(error { _ = try resolve("[[tiers]]\nname = \"a\"\nwidth = \"1h\"\nretention = \"1m\"\n") })
        XCTAssertNotNil(error { _ = try resolve("tiers = []\n") })
    }

    func testWarnings() throws {
        let c = try resolve("accepted_lateness = \"3d\"\n[[tiers]]\nname = \"minute\"\nwidth = \"1m\"\nretention = \"12h\"\n[[tiers]]\nname = \"odd\"\nwidth = \"90s\"\n")
        XCTAssertEqual(c.warnings.count, 3, "\(c.warnings)")
        guard c.warnings.count == 3 else { return }
        XCTAssertTrue(c.warnings[0].contains("dedupe horizon"))
        XCTAssertTrue(c.warnings[1].contains("accepted lateness"))
        XCTAssertTrue(c.warnings[2].contains("does not divide"))
    }

    func testEnvTiersAndSizes() throws {
        let c = try ConfigLoader.resolve(flags: ConfigFlags(), env: ["SELLO_TIERS": "day:1d,minute:1m:24h"], file: nil, document: nil)
        XCTAssertEqual(c.tiers.value, [Tier(name: "minute", width: 60, retention: 86400), Tier(name: "day", width: 86400)])
        XCTAssertEqual(ConfigLoader.parseBytes("256MB"), 256_000_000)
        XCTAssertEqual(ConfigLoader.parseBytes("1GiB"), 1 << 30)
        XCTAssertEqual(ConfigLoader.parseBytes("512 kib"), 512 * 1024)
        XCTAssertNil(ConfigLoader.parseBytes("12 parsecs"))
        XCTAssertEqual(ConfigLoader.formatDuration(5400), "1h30m")
        XCTAssertEqual(ConfigLoader.formatBytes(256 << 20), "256MiB")
    }

    func testDiscovery() throws {
        var flags = ConfigFlags()
        flags.db = "/data/s.db"
        XCTAssertEqual(try ConfigLoader.discover(flags: flags, env: [:], exists: { $0 == "/data/sello.yml" }), "/data/sello.yml")
        XCTAssertNil(try ConfigLoader.discover(flags: flags, env: [:], exists: { _ in false }))
        let e = error { _ = try ConfigLoader.discover(flags: flags, env: [:], exists: { $0.hasPrefix("/data/sello.") }) }
        XCTAssertTrue(e?.message.contains("/data/sello.toml, /data/sello.yaml, /data/sello.yml") ?? false)
        XCTAssertEqual(try ConfigLoader.discover(flags: ConfigFlags(), env: ["SELLO_DB": "d/x.db"], exists: { $0 == "d/sello.toml" }), "d/sello.toml")
        // Relative paths in a file are relative to its directory.
        let c = try ConfigLoader.resolve(flags: ConfigFlags(), env: [:], file: "conf/sello.toml",
                                         document: ConfigLoader.parse("db = \"s.db\"\n", file: "conf/sello.toml"))
        XCTAssertEqual(c.db.value, "conf/s.db")
        XCTAssertEqual(c.archiveDir.value, "conf/archive")
    }

    func testRenderedTOMLReadsBackTheSame() throws {
        let c = try resolve("dedupe_horizon = \"6h\"\n[[tiers]]\nname = \"quarter\"\nwidth = \"15m\"\nretention = \"7d\"\n")
        let again = try resolve(c.toml())
        XCTAssertEqual(again.toml().split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: "#")[0] },
                       c.toml().split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: "#")[0] })
        XCTAssertEqual(again.tiers.value, c.tiers.value)
    }
}
