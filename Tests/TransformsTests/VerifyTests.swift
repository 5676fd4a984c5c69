import XCTest
@testable import Transforms

/// `verify`'s stages on crafted figures (each passing, warning and failing for a known reason),
/// the rules file tree (defaults, every key, errors naming the line), argument resolution and
/// number formatting.
final class VerifyTests: XCTestCase {
    // MARK: crafted figures

    /// A side from (event, screen, count) triples; history defaults to the same counts per event.
    func side(_ version: String, _ screens: [(String, String, Int64)], sessions: Int64,
              keys: [VerifyKeyFigures] = [], history: [String: Int64]? = nil) -> VerifySide {
        var d: [VerifyEventScreen: Int64] = [:]
        for (e, s, n) in screens { d[VerifyEventScreen(e, s), default: 0] += n }
        var h: [String: Int64] = [:]
        for (e, _, n) in screens { h[e, default: 0] += n }
        return VerifySide(version: version, events: screens.reduce(0) { $0 + $1.2 }, sessions: sessions, screens: d,
                          historyEvents: history ?? h, keys: keys)
    }

    func key(_ event: String, _ path: String, _ events: Int64, strings: Int64 = 0, numbers: Int64 = 0, nulls: Int64 = 0,
             objects: Int64 = 0, arrays: Int64 = 0) -> VerifyKeyFigures {
        VerifyKeyFigures(event: event, keyPath: path, events: events, types: [strings, numbers, 0, objects, arrays, nulls])
    }

    let baseScreens: [(String, String, Int64)] = [("screenLoad", "home", 3000), ("screenLoad", "pdp", 1000),
                                                  ("click", "home", 3000), ("addToCart", "pdp", 600), ("purchase", "cart", 400)]

    /// The baseline's figures divided by `k` (a candidate with the same behaviour).
    func scaled(_ k: Int64) -> [(String, String, Int64)] { baseScreens.map { ($0.0, $0.1, $0.2 / k) } }

    func input(_ b: VerifySide, _ c: VerifySide) -> VerifyInput { VerifyInput(baseline: b, candidate: c, hours: [0, 3600]) }

    func row(_ r: VerifyReport, _ stage: VerifyStage, _ check: String, file: StaticString = #filePath,
        line: UInt = #line) -> VerifyCheck? {
        let found = r.checks.first { $0.stage == stage && $0.check == check }
        if found == nil { XCTFail("no check \(stage.rawValue) \(check) in \(r.checks.map(\.check))", file: file, line: line) }
        return found
    }

    func statuses(_ r: VerifyReport, _ stage: VerifyStage) -> [String] {
        r.checks.filter { $0.stage == stage }.map { "\($0.check)=\($0.status.name)" }
    }

    // MARK: stages

    func testTheSameBehaviourAtAQuarterOfTheVolumePassesEveryStage() {
        let keysB = [key("click", "pos", 3000, numbers: 3000)]
        let keysC = [key("click", "pos", 750, numbers: 750)]
        let b = side("1", baseScreens, sessions: 2000, keys: keysB), c = side("2", scaled(4), sessions: 500, keys: keysC)
        let r = VerifyStages.evaluate(input(b, c), rules: VerifyRules())
        XCTAssertEqual(r.status, .pass,
            r.checks.filter { $0.status != .pass }.map { "\($0.check): \($0.note)" }.joined(separator: "; "))
        XCTAssertEqual(r.summary, "0 FAIL, 0 WARN, \(r.checks.count) PASS")
        // Stage order, then the fixed order within each stage.
        XCTAssertEqual(r.checks.map(\.stage), r.checks.map(\.stage).sorted())
        XCTAssertEqual(statuses(r, .volume), ["events=PASS", "sessions=PASS"])
        XCTAssertEqual(statuses(r, .coverage).map { String($0.split(separator: "=")[0]) },
                       ["addToCart", "addToCart on pdp", "click", "click on home", "purchase", "purchase on cart",
                        "screenLoad", "screenLoad on home", "screenLoad on pdp"])
        XCTAssertEqual(statuses(r, .ratios), ["screenLoad_per_session=PASS", "pdp_screenLoad_per_session=PASS",
                                              "click_per_session=PASS", "addToCart_per_session=PASS"])
        XCTAssertEqual(statuses(r, .keys), ["click: pos (presence)=PASS", "click: pos (type)=PASS"])
        let v = row(r, .volume, "events")!
        XCTAssertEqual([v.baseline, v.candidate, v.change, v.threshold], ["8000", "2000", "x0.250", ">= 100"])
        let ratio = row(r, .ratios, "pdp_screenLoad_per_session")!
        XCTAssertEqual([ratio.baseline, ratio.candidate, ratio.change], ["0.500", "0.500", "0%"])
        XCTAssertEqual(ratio.note, "screenLoad on pdp: 1000 / 2000 sessions vs 250 / 500")
    }

    func testVolumeFailsBelowTheMinimumsAndRulesMoveThem() {
        let b = side("1", baseScreens, sessions: 2000), c = side("2", [("click", "home", 60)], sessions: 12)
        let r = VerifyStages.evaluate(input(b, c), rules: VerifyRules())
        XCTAssertEqual(statuses(r, .volume), ["events=FAIL", "sessions=FAIL"])
        XCTAssertEqual(row(r, .volume, "events")?.note, "the candidate has 60 events, fewer than 100")
        XCTAssertEqual(row(r, .volume, "sessions")?.note, "the candidate has 12 sessions, fewer than 20")
        var rules = VerifyRules()
        rules.volumeMinEvents = 60; rules.volumeMinSessions = 12
        XCTAssertEqual(statuses(VerifyStages.evaluate(input(b, c), rules: rules), .volume), ["events=PASS", "sessions=PASS"])
    }

    func testACandidateWithoutEventsFailsAtVolumeOnly() {
        let b = side("1", baseScreens, sessions: 2000)
        for (c, hours, inStore, why) in [(side("2", [], sessions: 0), [Int64](), false,
            "the candidate 2 has no events in the store"),
                                         (side("2", [], sessions: 0), [Int64](), true,
                                             "there is no hour in which both versions have events")] {
            let r = VerifyStages.evaluate(VerifyInput(baseline: b, candidate: c, hours: hours, candidateInStore: inStore),
                rules: VerifyRules())
            XCTAssertEqual(r.checks.map { "\($0.stage.rawValue) \($0.check) \($0.status.name)" }, ["volume events FAIL",
                "volume sessions FAIL"])
            XCTAssertEqual(r.notes, ["stages coverage, mix, ratios, keys skipped: \(why)"])
            XCTAssertEqual(r.status, .fail)
        }
    }

    func testCoverageFailsForWhatTheCandidateNeverSendsAboveTheFloor() {
        // addToCart gone; purchase only on cart in the baseline, on checkout in the candidate;
        // error rare: 16 in the baseline = 4 expected at a quarter of the volume (floor 5).
        let b = side("1", baseScreens + [("error", "home", 16)], sessions: 2000)
        let kept = scaled(4).filter { $0.0 != "addToCart" && $0.0 != "purchase" }
        let c = side("2", kept + [("purchase", "checkout", 100), ("addToCart", "x", 0)], sessions: 500)
        let r = VerifyStages.evaluate(input(b, c), rules: VerifyRules())
        XCTAssertEqual(statuses(r, .coverage), ["addToCart=FAIL", "addToCart on pdp=FAIL", "click=PASS", "click on home=PASS",
                                                "purchase=PASS", "purchase on cart=FAIL", "screenLoad=PASS",
                                                "screenLoad on home=PASS",
                                                "screenLoad on pdp=PASS"])
        let miss = row(r, .coverage, "addToCart on pdp")!
        XCTAssertEqual([miss.baseline, miss.candidate, miss.change], ["600", "0", "-100%"])
        XCTAssertEqual(miss.note, "not sent; expected 138.5 at the candidate's volume")  // 600 x 1850 / 8016
        XCTAssertEqual(r.notes.first,
            "coverage: 2 rare baseline event(s)/combination(s) not checked: fewer than 5 expected at the candidate's volume")
        var rules = VerifyRules()
        rules.coverageScreens = false
        rules.ignoreEvents = ["addToCart"]
        rules.coverageMinExpected = 3
        XCTAssertEqual(statuses(VerifyStages.evaluate(input(b, c), rules: rules), .coverage),
                       ["click=PASS", "error=FAIL", "purchase=PASS", "screenLoad=PASS"])
    }

    func testMixBandsNeedEveryBoundExceeded() {
        // Shares: baseline a 50% b 45% c 5%; candidate a 52% (+2pp, +4%) b 35% (-10pp, -22%) c 13% (+8pp, +160%).
        let b = side("1", [("a", "", 500), ("b", "", 450), ("c", "", 50)], sessions: 1000)
        let c = side("2", [("a", "", 520), ("b", "", 350), ("c", "", 130)], sessions: 1000)
        let r = VerifyStages.evaluate(input(b, c), rules: VerifyRules())
        XCTAssertEqual(statuses(r, .mix), ["a=PASS", "b=PASS", "c=FAIL"])
        let cc = row(r, .mix, "c")!
        XCTAssertEqual([cc.baseline, cc.candidate, cc.change, cc.threshold],
                       ["5.00%", "13.00%", "+8.00pp (+160%)", "WARN > 1pp & 25%, FAIL > 3pp & 50%"])
        var rules = VerifyRules()
        rules.mixWarn = VerifyBand(points: 1.5)        // points only
        rules.mixFail = VerifyBand(relative: 0.2)      // relative only
        XCTAssertEqual(statuses(VerifyStages.evaluate(input(b, c), rules: rules), .mix), ["a=WARN", "b=FAIL", "c=FAIL"])
        rules.mixWarn = VerifyBand(); rules.mixFail = VerifyBand()   // no bounds: never exceeded
        XCTAssertEqual(statuses(VerifyStages.evaluate(input(b, c), rules: rules), .mix), ["a=PASS", "b=PASS", "c=PASS"])
        // An event only one side sends.
        let d = side("2", [("a", "", 500), ("b", "", 450), ("new", "", 50)], sessions: 1000)
        let r2 = VerifyStages.evaluate(input(b, d), rules: VerifyRules())
        XCTAssertEqual(statuses(r2, .mix), ["a=PASS", "b=PASS", "c=FAIL", "new=FAIL"])
        XCTAssertEqual(row(r2, .mix, "new")?.change, "+5.00pp (new)")
        XCTAssertEqual(row(r2, .mix, "new")?.note, "only the candidate sends it")
        XCTAssertEqual(row(r2, .mix, "c")?.note, "the candidate does not send it")
        XCTAssertTrue(VerifyBand(points: 1, relative: 0.25).exceeded(points: -1.5, relative: -0.3))
        XCTAssertFalse(VerifyBand(points: 1, relative: 0.25).exceeded(points: -1.5, relative: -0.2))
    }

    func testRatiosPassWarnFailAndSayWhenSessionsAreTooFew() {
        var rules = VerifyRules()
        rules.ratios = [VerifyRatio(name: "loads", event: "screenLoad"),
                        VerifyRatio(name: "pdp", event: "screenLoad", screen: "pdp"),
                        VerifyRatio(name: "carts", event: "addToCart"),
                        VerifyRatio(name: "carts_lenient", event: "addToCart", fail: 0.5),
                        VerifyRatio(name: "typo", event: "screenLoads")]
        // Per session: loads 2.0 -> 1.6 (-20%), pdp 0.5 -> 0.5, carts 0.3 -> 0.42 (+40%).
        let b = side("1", baseScreens, sessions: 2000)
        let c = side("2", [("screenLoad", "home", 550), ("screenLoad", "pdp", 250), ("addToCart", "pdp", 210)], sessions: 500)
        let r = VerifyStages.evaluate(input(b, c), rules: rules)
        XCTAssertEqual(statuses(r, .ratios), ["loads=WARN", "pdp=PASS", "carts=FAIL", "carts_lenient=WARN", "typo=WARN"])
        let carts = row(r, .ratios, "carts")!
        XCTAssertEqual([carts.baseline, carts.candidate, carts.change, carts.threshold], ["0.300", "0.420", "+40%",
            "WARN > 15%, FAIL > 30%"])
        XCTAssertEqual(row(r, .ratios, "carts_lenient")?.threshold, "WARN > 15%, FAIL > 50%")
        XCTAssertTrue(row(r, .ratios,
            "typo")!.note.hasPrefix("the baseline sends no screenLoads: check the ratio's event and screen names"))
        // Too few sessions: WARN with the numbers, never PASS, whatever the change.
        let few = side("2", [("screenLoad", "home", 60), ("screenLoad", "pdp", 10)], sessions: 150)
        let r2 = VerifyStages.evaluate(input(b, few), rules: rules)
        XCTAssertEqual(Set(r2.checks.filter { $0.stage == .ratios }.map(\.status)), [.warn])
        XCTAssertTrue(row(r2, .ratios,
            "pdp")!.note.hasPrefix("too few sessions: 150 < 200 (candidate); screenLoad on pdp: 1000 / 2000"))
        let both = VerifyStages.evaluate(input(side("1", baseScreens, sessions: 180), few), rules: rules)
        XCTAssertTrue(row(both, .ratios, "pdp")!.note.hasPrefix("too few sessions: baseline 180, candidate 150 < 200; "))
        rules.ratios[1].minSessions = 100
        XCTAssertEqual(row(VerifyStages.evaluate(input(b, few), rules: rules), .ratios, "pdp")?.status, .fail)  // 0.067 vs 0.5
    }

    func testKeysFindDroppedKeysPresenceDropsAndTypeChanges() {
        let b = side("1", [("click", "home", 1000), ("addToCart", "pdp", 200), ("purchase", "cart", 100)], sessions: 500, keys: [
            key("click", "pos", 1000, numbers: 1000),            // becomes partly a string: a type mix appears
            key("click", "el", 1000, strings: 1000),             // dominant type changes
            key("click", "exp", 950, strings: 300, nulls: 650),  // mixed in both, nulls shift
            key("click", "net", 900, strings: 900),              // sent 30% less often: WARN
            key("click", "ref", 800, strings: 800),              // sent 60% less often: FAIL
            key("click", "rare", 40, strings: 40),               // 4% presence: not checked
            key("addToCart", "items", 200, arrays: 200),
            key("addToCart", "items[]", 200, objects: 200),
            key("addToCart", "items[].qty", 200, numbers: 200),  // dropped while items[] stays: FAIL
            key("addToCart", "items[].sku", 200, strings: 200),
            key("purchase", "cart", 100, objects: 100),          // dropped with its children: one FAIL
            key("purchase", "cart.total", 100, numbers: 100),
        ])
        let c = side("2", [("click", "home", 500), ("addToCart", "pdp", 100)], sessions: 250, keys: [
            key("click", "pos", 500, strings: 80, numbers: 420),
            key("click", "el", 500, strings: 200, numbers: 300),
            key("click", "exp", 475, strings: 200, nulls: 275),
            key("click", "net", 315, strings: 315),
            key("click", "ref", 160, strings: 160),
            key("addToCart", "items", 100, arrays: 100),
            key("addToCart", "items[]", 100, objects: 100),
            key("addToCart", "items[].sku", 100, strings: 100),
        ], history: ["click": 500, "addToCart": 100, "purchase": 50])
        let r = VerifyStages.evaluate(input(b, c), rules: VerifyRules())
        XCTAssertEqual(statuses(r, .keys), [
            "addToCart: items (presence)=PASS", "addToCart: items (type)=PASS",
            "addToCart: items[] (presence)=PASS", "addToCart: items[] (type)=PASS",
            "addToCart: items[].qty (presence)=FAIL",
            "addToCart: items[].sku (presence)=PASS", "addToCart: items[].sku (type)=PASS",
            "click: el (presence)=PASS", "click: el (type)=FAIL",
            "click: exp (presence)=PASS", "click: exp (type)=PASS",
            "click: net (presence)=WARN", "click: net (type)=PASS",
            "click: pos (presence)=PASS", "click: pos (type)=FAIL",
            "click: ref (presence)=FAIL", "click: ref (type)=PASS",
            "purchase: cart (presence)=FAIL",
        ])
        XCTAssertEqual(row(r, .keys, "addToCart: items[].qty (presence)")?.note,
                       "dropped: the candidate never sends it (expected in 100.0 of events with items[])")
        let pos = row(r, .keys, "click: pos (type)")!
        XCTAssertEqual([pos.baseline, pos.candidate, pos.note], ["number 100%", "number 84% / string 16%",
            "string appears (16%)"])
        XCTAssertEqual(row(r, .keys, "click: el (type)")?.note, "dominant type string -> number; number appears (60%)")
        XCTAssertEqual(row(r, .keys, "click: exp (type)")?.note, "mixed types in both versions (not a change)")
        let net = row(r, .keys, "click: net (presence)")!
        XCTAssertEqual([net.baseline, net.candidate, net.change, net.note], ["90%", "63%", "-30%",
            "900 of 1000 click events vs 315 of 500"])
        // rare (below 5%) and cart.total (its parent is gone) were not checked.
        XCTAssertEqual(r.notes,
            ["keys: 2 check(s) of baseline key paths not made: presence below 5%, or fewer than 5 events expected in the "
             + "candidate"])
        // Type changes as warnings; a looser presence band.
        var rules = VerifyRules()
        rules.keysTypeChange = .warn
        rules.keysFail = 0.7
        let r2 = VerifyStages.evaluate(input(b, c), rules: rules)
        XCTAssertEqual(row(r2, .keys, "click: pos (type)")?.status, .warn)
        XCTAssertEqual(row(r2, .keys, "click: ref (presence)")?.status, .warn)
        XCTAssertEqual(row(r2, .keys, "addToCart: items[].qty (presence)")?.status, .fail)  // never sent fails at any band
    }

    func testKeysSayWhenAVersionHasNoPerVersionKeyData() {
        var b = side("1", baseScreens, sessions: 2000, keys: [])
        b.keyInventoryMissing = true
        let c = side("2", scaled(4), sessions: 500, keys: [key("click", "pos", 750, numbers: 750)])
        let r = VerifyStages.evaluate(input(b, c), rules: VerifyRules())
        XCTAssertEqual(statuses(r, .keys), ["key inventory=WARN"])
        XCTAssertTrue(row(r, .keys, "key inventory")!.note.hasPrefix("no per-version key data for the baseline 1"))
    }

    func testOnlyTheChosenStagesRun() {
        var rules = VerifyRules()
        rules.stages = [.mix, .volume]
        let r = VerifyStages.evaluate(input(side("1", baseScreens, sessions: 2000), side("2", scaled(4), sessions: 500)),
            rules: rules)
        XCTAssertEqual(Set(r.checks.map(\.stage)), [.volume, .mix])
    }

    // MARK: rules file

    func n(_ k: VerifyRulesNode.Kind, _ line: Int) -> VerifyRulesNode { VerifyRulesNode(k, line: line) }
    func table(_ entries: [(String, Int, VerifyRulesNode)], _ line: Int = 1) -> VerifyRulesNode {
        VerifyRulesNode(.table(entries.map { (key: $0.0, line: $0.1, value: $0.2) }), line: line)
    }

    func parseError(_ root: VerifyRulesNode) -> String {
        do {
            _ = try VerifyRules.parse(root, file: "rules.yaml")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testAnEmptyRulesFileGivesTheDefaults() throws {
        XCTAssertEqual(try VerifyRules.parse(table([]), file: "r.yaml"), VerifyRules())
        let d = VerifyRules()
        XCTAssertEqual(d.stages, [.volume, .coverage, .mix, .ratios, .keys])
        XCTAssertEqual([d.volumeMinEvents, d.volumeMinSessions, d.ratiosMinSessions], [100, 20, 200])
        XCTAssertEqual(d.ratios.map(\.name), ["screenLoad_per_session", "pdp_screenLoad_per_session", "click_per_session",
            "addToCart_per_session"])
        XCTAssertEqual(d.ratios[1].screen, "pdp")
    }

    func testEveryRulesKeyIsRead() throws {
        let pdpRatio = table([("name", 20, n(.string("pdp"), 20)), ("event", 21, n(.string("screenLoad"), 21)),
                              ("screen", 22, n(.string("pdp"), 22)), ("warn", 23, n(.string("5%"), 23)),
                              ("fail", 24, n(.float(0.1), 24)), ("min_sessions", 25, n(.integer(9), 25))], 20)
        let root = table([
            ("stages", 1, n(.array([n(.string("keys"), 1), n(.string("volume"), 1), n(.string("keys"), 1)]), 1)),
            ("ignore_events", 2, n(.array([n(.string("error"), 2)]), 2)),
            ("volume", 3, table([("min_events", 4, n(.integer(10), 4)), ("min_sessions", 5, n(.integer(2), 5))], 3)),
            ("coverage", 6, table([("min_expected", 7, n(.float(2.5), 7)), ("screens", 8, n(.bool(false), 8))], 6)),
            ("mix", 9, table([("warn", 10, table([("points", 11, n(.string("0.5pp"), 11))], 10)),
                              ("fail", 12, table([("points", 13, n(.integer(2), 13)),
                                                  ("relative", 14, n(.string("150%"), 14))], 12))], 9)),
            ("ratios", 15, table([("min_sessions", 16, n(.integer(50), 16)), ("warn", 17, n(.float(0.2), 17)),
                                  ("fail", 18, n(.string("40%"), 18)),
                                  ("define", 19, n(.array([pdpRatio]), 19))], 15)),
            ("keys", 26, table([("min_presence", 27, n(.string("10%"), 27)), ("min_expected", 28, n(.integer(3), 28)),
                                ("warn", 29, n(.float(0.3), 29)), ("fail", 30, n(.string("60%"), 30)),
                                ("type_mix_min", 31, n(.float(0.05), 31)), ("type_change", 32, n(.string("WARN"), 32))], 26)),
        ])
        let r = try VerifyRules.parse(root, file: "r.yaml")
        XCTAssertEqual(r.stages, [.volume, .keys])
        XCTAssertEqual(r.ignoreEvents, ["error"])
        XCTAssertEqual([r.volumeMinEvents, r.volumeMinSessions, r.ratiosMinSessions], [10, 2, 50])
        XCTAssertEqual(r.coverageMinExpected, 2.5)
        XCTAssertFalse(r.coverageScreens)
        XCTAssertEqual(r.mixWarn, VerifyBand(points: 0.5))
        XCTAssertEqual(r.mixFail, VerifyBand(points: 2, relative: 1.5))
        XCTAssertEqual([r.ratiosWarn, r.ratiosFail], [0.2, 0.4])
        XCTAssertEqual(r.ratios, [VerifyRatio(name: "pdp", event: "screenLoad", screen: "pdp", warn: 0.05, fail: 0.1,
            minSessions: 9)])
        XCTAssertEqual([r.keysMinPresence, r.keysMinExpected, r.keysWarn, r.keysFail, r.keysTypeMixMin], [0.1, 3, 0.3, 0.6, 0.05])
        XCTAssertEqual(r.keysTypeChange, .warn)
    }

    func testRulesErrorsNameTheLineAndTheKey() {
        XCTAssertEqual(parseError(table([("mix", 3, table([("warn", 4, table([("pointz", 5, n(.integer(1), 5))], 4))], 3))])),
                       "rules.yaml: line 5: mix.warn.pointz: unknown key; known keys here: points, relative")
        XCTAssertEqual(parseError(table([("volume", 1, table([], 1)), ("ratio", 7, table([], 7))])),
                       "rules.yaml: line 7: ratio: unknown key; known keys here: stages, ignore_events, volume, coverage, mix, "
                       + "ratios, keys")
        XCTAssertEqual(parseError(table([("volume", 2, table([("min_events", 3, n(.string("ten"), 3))], 2))])),
                       "rules.yaml: line 3: volume.min_events: expected a whole number, got a string")
        XCTAssertEqual(parseError(table([("ratios", 2, table([("warn", 4, n(.integer(10), 4))], 2))])),
                       "rules.yaml: line 4: ratios.warn: a bare number is a fraction (0.25 = 25%); write \"10%\" for 10 percent, "
                       + "got 10")
        XCTAssertEqual(parseError(table([("keys", 2, table([("min_presence", 6, n(.string("150%"), 6))], 2))])),
                       "rules.yaml: line 6: keys.min_presence: expected a rate of at most 100%, got \"150%\"")
        XCTAssertEqual(parseError(table([("stages", 9, n(.array([n(.string("volume"), 9), n(.string("speed"), 9)]), 9))])),
                       "rules.yaml: line 9: stages[1]: unknown stage \"speed\"; stages: volume, coverage, mix, ratios, keys")
        let ratio = { (entries: [(String, Int, VerifyRulesNode)]) in
            self.table([("ratios", 1, self.table([("define", 2, self.n(.array([self.table(entries, 3)]), 2))], 1))])
        }
        XCTAssertEqual(parseError(ratio([("name", 3, n(.string("x"), 3))])),
            "rules.yaml: line 3: ratios.define[0]: ratio x needs an event")
        XCTAssertEqual(parseError(ratio([("event", 3, n(.string("x"), 3)), ("per", 4, n(.string("session"), 4))])),
                       "rules.yaml: line 4: ratios.define[0].per: unknown key; known keys here: name, event, screen, warn, fail, "
                       + "min_sessions")
        XCTAssertEqual(parseError(table([("keys", 2, table([("type_change", 8, n(.string("explode"), 8))], 2))])),
                       "rules.yaml: line 8: keys.type_change: expected pass, warn or fail, got \"explode\"")
        XCTAssertEqual(parseError(table([("mix", 2, n(.integer(3), 2))])),
            "rules.yaml: line 2: mix: expected a table, got an integer")
        XCTAssertEqual(parseError(table([("ratios", 2, table([("warn", 3, n(.string("40%"), 3))], 2))])),
                       "rules.yaml: line 2: ratios: ratio screenLoad_per_session: warn 40% is above fail 30%")
        XCTAssertEqual(parseError(table([("keys", 5, table([("fail", 6, n(.string("10%"), 6))], 5))])),
                       "rules.yaml: line 5: keys: warn 20% is above fail 10%")
    }

    // MARK: arguments and formatting

    func testResolveNamesWhatExists() {
        let cat = [("t", "shop", "android", "3.2", 10), ("t", "shop", "android", "3.3", 5), ("t", "shop", "ios", "3.2", 4),
                   ("u", "shop", "web", "1", 1), ("t", "lite", "android", "1", 1)]
            .map { VerifyScope.CatalogVersion(tenant: $0.0, app: $0.1, platform: $0.2, appVersion: $0.3, events: Int64($0.4)) }
        func err(_ app: String, _ tenant: String?, _ platform: String?, _ base: String, _ cand: String = "9") -> String {
            do {
                _ = try VerifyScope.resolve(app: app, tenant: tenant, platform: platform, baseline: base, candidate: cand,
                    catalog: cat)
                return "ok"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(err("web", nil, nil, "1"), "app web is not in the catalog; apps (tenant/app): t/lite, t/shop, u/shop")
        XCTAssertEqual(err("shop", nil, nil, "3.2"), "app shop exists in several tenants (t, u): choose one with --tenant")
        XCTAssertEqual(err("shop", "v", nil, "3.2"), "app shop has no tenant v; its tenants: t, u")
        XCTAssertEqual(err("shop", "t", "web", "3.2"), "t/shop has no platform web; its platforms: android, ios")
        XCTAssertEqual(err("shop", "t", "ios", "3.3"),
            "the baseline version 3.3 has no events in t/shop/ios; versions: 3.2 (4 events)")
        XCTAssertEqual(err("shop", "t", nil, "3.2", "3.2"), "the baseline and candidate versions are both 3.2")
        XCTAssertEqual(err("lite", nil, nil, "1"), "ok")
        let s = try? VerifyScope.resolve(app: "shop", tenant: "t", platform: nil, baseline: "3.2", candidate: "3.3", catalog: cat)
        XCTAssertEqual(s?.label, "t/shop")
        XCTAssertEqual(s?.candidateInStore, true)
        let ios = try? VerifyScope.resolve(app: "shop", tenant: "t", platform: "ios", baseline: "3.2", candidate: "3.3",
                                           catalog: cat)
        XCTAssertEqual(ios?.candidateInStore, false)
        XCTAssertEqual(VerifyStages.parentPath("items[].qty"), "items[]")
        XCTAssertEqual(VerifyStages.parentPath("items[]"), "items")
        XCTAssertEqual(VerifyStages.parentPath("a.b.c"), "a.b")
        XCTAssertNil(VerifyStages.parentPath("pos"))
    }

    func testFormattingIsFixedAndRoundsHalfAwayFromZero() {
        XCTAssertEqual(VerifyFormat.number(2.0625, decimals: 3), "2.063")
        XCTAssertEqual(VerifyFormat.number(-0.0004, decimals: 3), "0.000")
        XCTAssertEqual(VerifyFormat.number(1.50, decimals: 2, trim: true), "1.5")
        XCTAssertEqual(VerifyFormat.number(3, decimals: 2, trim: true), "3")
        XCTAssertEqual(VerifyFormat.percent(0.84375), "84.4%")
        XCTAssertEqual(VerifyFormat.percent(1), "100%")
        XCTAssertEqual(VerifyFormat.share(0.0226), "2.26%")
        XCTAssertEqual(VerifyFormat.relative(0, 5), "-100%")
        XCTAssertEqual(VerifyFormat.relative(5, 5), "0%")
        XCTAssertEqual(VerifyFormat.relative(6.2, 5), "+24%")
        XCTAssertEqual(VerifyFormat.relative(1, 0), "new")
        XCTAssertEqual(VerifyFormat.signed(-1.234, decimals: 2), "-1.23")
        XCTAssertEqual(VerifyFormat.times(1, 4), "x0.250")
        XCTAssertEqual(VerifyStages.typeHistogram([16, 84, 0, 0, 0, 0]), "number 84% / string 16%")
        XCTAssertEqual(VerifyStages.typeHistogram([0, 0, 0, 0, 0, 0]), "-")
    }
}
