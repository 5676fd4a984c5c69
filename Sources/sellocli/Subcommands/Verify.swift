import ArgumentParser
import Foundation
import Storage
import Transforms

/// `sellocli verify`: staged roll-out verification of a candidate app version against its
/// baseline, from the clickstream catalog. Wiring only: the rules come from `VerifyRules.parse`,
/// the figures from `SQLiteStore.verifyInput`, the verdicts from `VerifyStages.evaluate`.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Staged roll-out verification: does the candidate app version behave like its baseline?",
        usage: """
        sellocli verify [--db <path>] [--config <path>] --app <app>
                        [--tenant <tenant>] [--platform <platform>]
                        --baseline-version <version>
                        --candidate-version <version> [--rules <path>]
                        [--from <time>] [--to <time>] [--problems-only]
                        [--format <format>]
        """,
        discussion: """
        Compares two versions of one app (tenant, app, optionally one platform) over
        the same hours: by default every hour in which both versions have events,
        narrowed by --from and --to (hour starts in [--from, --to)). The data is what
        `catalog ingest` stored; nothing is written. Five stages, in this order:
          1 volume    the candidate's events and exact distinct sessions reach the
                      minimums
          2 coverage  every event, and every (event, screen), of the baseline that
                      the candidate would be expected to send at least min_expected
                      times at its volume (baseline count x candidate events /
                      baseline events) is sent at all
          3 mix       each event's share of all events stays within the bands
          4 ratios    per-session ratios (events of an event, optionally on one
                      screen, over the version's distinct sessions in those hours)
                      stay within tolerance, either direction; WARN "too few
                      sessions: N < min" when either version has fewer sessions
          5 keys      body keys the baseline carries (presence >= min_presence):
                      FAIL when the candidate dropped one or carries it much less
                      often, and on a type change (the dominant non-null JSON type
                      differs, or a type the baseline never sent appears). A nested
                      key's presence counts among the events carrying its parent
                      (items[].qty among those with items[]): a parent sent less
                      often is one finding, not one per child. Keys cover each
                      version's whole history in the store (the key inventory has
                      no hours); --from/--to do not narrow them.
        When the candidate has no events in the compared hours, only volume is judged
        (FAIL), and a note on stderr says why.

        Output: one row per check (--format table|csv|tsv|json|jsonl): stage, check,
        status (PASS, WARN or FAIL), baseline, candidate, change, threshold, note.
        Values are text: counts; shares of all events with two decimals; ratios with
        three; presence and type histograms in percent. change is the candidate
        against the baseline (coverage: against the count expected at its volume;
        volume: its size as a fraction of the baseline's). Rows are ordered by stage,
        then event, screen, ratio definition or key path. On stderr: the compared
        hours first; notes (checks under a floor, skipped stages) and the summary
        (sellocli verify: 2 FAIL, 1 WARN, 14 PASS) last.

        Default ratios (the event and screen names of `gen --clickstream`):
          screenLoad_per_session        screenLoad events per session
          pdp_screenLoad_per_session    screenLoad events on screen pdp per session
          click_per_session             click events per session
          addToCart_per_session         addToCart events per session
        For an app with other event names, define its ratios in a rules file: a
        ratio whose event the baseline never sends is a WARN saying so.

        Rules file (--rules; YAML .yaml/.yml or TOML .toml, the strict subset of the
        config file): every key is optional; an unknown key is an error naming the
        line (exit 78). The full file, with the defaults:
          stages: [volume, coverage, mix, ratios, keys]
          ignore_events: []      # left out of coverage, mix and keys
          volume:                # FAIL below (compared hours):
            min_events: 100      #   the candidate's events
            min_sessions: 20     #   its distinct sessions
          coverage:
            min_expected: 5      # check what the candidate should send 5+ times
            screens: true        # also (event, screen) combinations
          mix:                   # a band is exceeded beyond all of its bounds:
            warn:                #   points: percentage points of the share;
              points: 1          #   relative: change relative to the
              relative: 25%      #   baseline's share
            fail:
              points: 3
              relative: 50%
          ratios:
            min_sessions: 200    # fewer on either side: WARN, not judged
            warn: 15%            # relative change, either direction
            fail: 30%
            define:              # replaces the default ratios
              - name: pdp_screenLoad_per_session
                event: screenLoad
                screen: pdp      # optional: only events on this screen
                fail: 30%        # optional: warn, fail, min_sessions
              - name: addToCart_per_session
                event: addToCart
          keys:
            min_presence: 5%     # rarer baseline keys are not checked,
            min_expected: 5      #   nor keys expected in fewer candidate events
            warn: 20%            # relative drop of presence; never sent: FAIL
            fail: 50%
            type_mix_min: 1%     # a new JSON type at this share: type change
            type_change: fail    # its status: fail, warn or pass
        Rates are "25%" or 0.25 (a bare number above 1 is refused: write "150%"); a
        warn above its fail is refused too. In TOML: stages = ["volume", "mix"],
        [mix.warn] with points = 1 and relative = "25%", [[ratios.define]] with
        name = "..." and event = "...".

        Examples:
          # The candidate 3.3 against 3.2 on Android, every hour both have events
          sellocli verify --db catalog.db --tenant myntra --app shop \\
              --platform android --baseline-version 3.2 --candidate-version 3.3

          # Only the problems, over one day, with a rules file; JSON for a pipeline
          sellocli verify --db catalog.db --tenant myntra --app shop --platform ios \\
              --baseline-version 3.2 --candidate-version 3.3 --rules verify.yaml \\
              --from 2019-10-01 --to 2019-10-02 --problems-only --format json

          # Gate a staged roll-out from cron: exit 3 holds the next step
          sellocli verify --tenant myntra --app shop --platform android \\
              --baseline-version 3.2 --candidate-version 3.3 --format csv \\
              > verify.csv || echo "hold the roll-out"

        Without --platform, every platform of the app is compared together (a version
        number shared by platforms is one version). Without --tenant, the app must
        exist in one tenant only.

        Exit status: 0 no check failed (WARN rows do not fail); 3 at least one FAIL
        (rows still printed; a candidate without events fails at volume); 1 the store
        failed; 64 usage error, or an app, tenant or platform not in the catalog, or a
        baseline version without events there (the message lists what exists); 78 a
        bad rules file, config file or SELLO_* value.
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .long, help: "The app.") var app: String
    @Option(name: .long, help: "The tenant (needed when the app exists in several).") var tenant: String?
    @Option(name: .long, help: "Only this platform (default: all platforms of the app).") var platform: String?
    @Option(name: .customLong("baseline-version"),
            help: ArgumentHelp("The version to compare against (e.g. 3.2).", valueName: "version"))
    var baselineVersion: String
    @Option(name: .customLong("candidate-version"),
            help: ArgumentHelp("The version being rolled out (e.g. 3.3).", valueName: "version"))
    var candidateVersion: String
    @Option(name: .long,
            help: ArgumentHelp("Rules file (.yaml, .yml or .toml; see above). Default: the built-in rules.", valueName: "path"))
    var rules: String?
    @OptionGroup var range: RangeOptions
    @Flag(name: .customLong("problems-only"), help: "Print WARN and FAIL rows only (the summary still counts every check).")
    var problemsOnly = false
    @OptionGroup var output: OutputOptions

    func validate() throws {
        let (from, to) = try range.resolved()
        if let from, let to, from >= to { throw ValidationError("--from must be before --to") }
        if let rules {
            let l = rules.lowercased()
            if !(l.hasSuffix(".yaml") || l.hasSuffix(".yml") || l.hasSuffix(".toml")) {
                throw ValidationError("--rules: name the file .yaml, .yml or .toml (the format comes from the extension)")
            }
        }
    }

    func run() throws {
        let (from, to) = try range.resolved()
        let verifyRules = try loadRules()
        let config = try store.effectiveConfig()
        let s: SQLiteStore
        let catalog: [VerifyScope.CatalogVersion]
        do {
            s = try SQLiteStore(path: config.db.value, tiers: config.tiers.value, readOnly: true)
            catalog = try s.verifyCatalogVersions()
        } catch {
            throw fail(error)
        }
        let scope: VerifyScope
        do {
            scope = try VerifyScope.resolve(app: app, tenant: tenant, platform: platform, baseline: baselineVersion,
                                            candidate: candidateVersion, catalog: catalog)
        } catch let e as TransformsError {
            printErr("sellocli: error: \(e)")
            throw ExitCode(ExitCodes.usage)
        }
        let input: VerifyInput
        do {
            input = try s.verifyInput(scope, from: from, to: to)
        } catch {
            throw fail(error)
        }
        var head = "sellocli verify: \(scope.label) \(scope.baseline) (baseline) vs \(scope.candidate) (candidate): "
        if let first = input.hours.first, let last = input.hours.last {
            head += "\(input.hours.count) hour(s) between \(Format.iso8601(first)) and \(Format.iso8601(last + 3600))"
                + " in which both have events"
        } else {
            head += "no hour in which both versions have events" + (from != nil || to != nil ? " within --from/--to" : "")
        }
        printErr(head)
        let report = VerifyStages.evaluate(input, rules: verifyRules)
        let w = ResultWriter(format: output.resolved)
        w.begin(columns: VerifyCheck.columns)
        for c in report.checks where !problemsOnly || c.status != .pass {
            w.row([.text(c.stage.rawValue), .text(c.check), .text(c.status.name), .text(c.baseline), .text(c.candidate),
                   .text(c.change), .text(c.threshold), .text(c.note)])
        }
        w.end()
        for n in report.notes { printErr("sellocli verify: note: \(n)") }
        printErr("sellocli verify: \(report.summary)")
        if report.status == .fail { throw ExitCode(ExitCodes.findings) }
    }

    /// The rules file's rules, or the defaults. A bad file exits 78 with file, line and key path.
    private func loadRules() throws -> VerifyRules {
        guard let path = rules else { return VerifyRules() }
        do {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConfigError(file: path, "no such rules file (from --rules)")
            }
            let doc = try ConfigLoader.parseFile(path)
            do {
                return try VerifyRules.parse(Self.node(doc), file: path)
            } catch let TransformsError.badContent(file, line, reason) {
                throw ConfigError(file: file, line: line > 0 ? Int(line) : nil, reason)
            }
        } catch let e as ConfigError {
            throw failConfig(e)
        }
    }

    /// The config parsers' tree as the rules parser's (Transforms does not know the parsers).
    static func node(_ v: ConfigValue) -> VerifyRulesNode {
        switch v.kind {
        case .table(let t):
            return VerifyRulesNode(.table(t.keys.map { (key: $0, line: t.keyLines[$0], value: node(t[$0]!)) }), line: v.line)
        case .array(let a): return VerifyRulesNode(.array(a.map(node)), line: v.line)
        case .string(let s): return VerifyRulesNode(.string(s), line: v.line)
        case .integer(let i): return VerifyRulesNode(.integer(i), line: v.line)
        case .float(let d): return VerifyRulesNode(.float(d), line: v.line)
        case .bool(let b): return VerifyRulesNode(.bool(b), line: v.line)
        }
    }
}
