import ArgumentParser
import Transforms

/// `sellocli gen`: deterministic synthetic events in the REES46 layout.
struct Gen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen",
        abstract: "Write deterministic synthetic e-commerce events in the REES46 layout, or an app clickstream.",
        usage: """
        sellocli gen [--rows <rows>] [--start <time>] [--hours <hours>]
                     [--seed <seed>] [--gzip] [--level <n>] [--jsonl]
                     [--clickstream] [--append] [--output <file>]
        """,
        discussion: """
        Writes exactly --rows events, ordered by event_time, spread over --hours hours
        from --start with a daily traffic curve (quiet at night UTC, busiest in the
        evening). The output is CSV with the REES46 header (event_time, event_type,
        product_id, category_id, category_code, brand, price, user_id, user_session)
        or, with --jsonl, one JSON object per line with the same keys (no header).
        Times are written as `2019-10-01 00:00:00 UTC`, prices with two decimals, a
        missing brand or category_code as an empty field (an empty string in JSON).

        The data has the character of the real multi-category store: events come in
        sessions of a few minutes; about 96% are views, 2.2% carts and 1.75% purchases
        (no remove_from_cart); about a quarter of views repeat a (user_session,
        product_id) pair; carts and purchases follow a view of the same product in the
        same session; about a third of rows have no category_code and 12-15% no brand;
        a few products are very popular. The product catalog is the same for every
        seed, like one store over many days.

        The output is a function of --rows, --start, --hours, --seed and --jsonl only:
        the same options give the same bytes (on one platform and C library). Memory
        does not grow with --rows.

        With --clickstream, gen writes an app clickstream instead (JSON Lines, --jsonl
        implied), for the event catalog and verify: one object per line with tenant,
        app, platform, app_version, event, screen, session_id, user_id, ts and a
        nested body. Two tenants (myntra: apps shop on android/ios/web and lite on
        android; jabong: shop on android/ios/web), app versions with release shares
        (myntra shop android 3.2 80% and 3.3 20%, ios 3.2 70% and 3.3 30%, jabong
        android 2.9 85% and 2.8 15%; one version a user), sessions walking the screens
        home, search, listing, pdp, cart, checkout, payment and orderConfirmation with
        the events screenLoad, click, scroll, search, filter, addToCart,
        removeFromCart, addToWishlist, checkoutStart, purchase and error, returning
        users, and a daily curve of Indian traffic. Bodies vary by event (items[].sku,
        items[].price, items[].qty, filters.brand, product.sizes[], payment.mode...)
        with optional and nullable keys; `position` on click is deliberately of mixed
        type (a number in ~84% of clicks, a string like "7" in ~16%). The ts format
        depends on the platform: web an ISO 8601 string (2019-10-01T13:05:07.123Z),
        android Unix milliseconds, ios Unix seconds. session_id is absent (user_id
        present) on ~30% of the first events of web sessions and ~1% of other events.
        Deliberately broken candidate: myntra shop android 3.3 (baseline 3.2) never
        sends addToWishlist (the baseline sends it on pdp), skips the pdp screenLoad
        when the pdp is opened from listing or search (fewer screenLoads per session),
        and drops items[].qty from every item; myntra shop ios 3.3 is a healthy
        candidate. The summary line counts tenants, apps, versions, sessions and
        events by type.

        --start accepts `2019-10-01T00:00:00Z`, `2019-10-01 00:00:00 UTC` or
        `2019-10-01` (midnight), always UTC.

        A summary line (rows, views, repeated views, empty brands and codes) goes to
        standard error; standard output carries only the data when -o is - or absent.

        Examples:

          Ten thousand events of 2019-10-01 to standard output:
            sellocli gen

          A gzip file of five million events over one day, for an ingest benchmark:
            sellocli gen --rows 5000000 --gzip -o events.csv.gz

          One week of October, a file per day, each day with its own seed:
            for d in 1 2 3 4 5 6 7; do
              sellocli gen --rows 1000000 --start 2019-10-0$d --hours 24 --seed $d \\
                --gzip -o day$d.csv.gz
            done

          JSON Lines for a quick look with jq:
            sellocli gen --rows 5 --jsonl | jq -c '{event_type, product_id, price}'

          Three hours of the evening peak:
            sellocli gen --rows 200000 --start '2019-11-17 16:00:00 UTC' \\
              --hours 3 -o peak.csv

          A day of app clickstream, gzip JSON Lines (the committed sample):
            sellocli gen --clickstream --rows 5000 --start 2019-10-01 --seed 1 \\
              --gzip -o clickstream-2019-10-01.jsonl.gz

          The broken candidate's events, with jq:
            sellocli gen --clickstream --rows 20000 | \\
              jq -c 'select(.platform == "android" and .app_version == "3.3")'

          Append a second day to a gzip file (a new gzip member, still valid gzip):
            sellocli gen --start 2019-10-02 --seed 2 --gzip --append -o events.csv.gz

        Exit status: 0 on success, 1 when the output cannot be written, 64 for invalid
        options.
        """
    )

    @Option(name: .long, help: "Number of event rows to write.")
    var rows: Int = 10_000

    @Option(name: .long, help: ArgumentHelp("Start of the time window, UTC.", valueName: "time"))
    var start: String = "2019-10-01T00:00:00Z"

    @Option(name: .long, help: "Length of the time window in hours.")
    var hours: Int = 24

    @Option(name: .long, help: "Random seed; the same options give the same bytes.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Compress the output with gzip (whatever the file name).")
    var gzip = false

    @Option(name: .long, help: ArgumentHelp("gzip level: 1-3 use ISA-L igzip (fast), 4-9 zlib (smaller, much slower).", valueName: "n"))
    var level: Int32 = 1

    @Flag(name: .long, help: "Write JSON Lines instead of CSV.")
    var jsonl = false

    @Flag(name: .long, help: "Write an app clickstream (tenants, apps, versions, screens, nested bodies) as JSON Lines instead of REES46 events.")
    var clickstream = false

    @Flag(name: .long, help: "Append to the output file instead of replacing it (with --gzip, as a new gzip member). CSV output then carries no header.")
    var append = false

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output file; - for standard output.", valueName: "file"))
    var output: String = "-"

    func validate() throws {
        guard rows >= 0 else { throw ValidationError("--rows must be 0 or more, got \(rows)") }
        guard hours >= 1 && hours <= GeneratorOptions.maxHours else {
            throw ValidationError("--hours must be between 1 and \(GeneratorOptions.maxHours), got \(hours)")
        }
        guard (1...9).contains(level) else { throw ValidationError("--level must be between 1 and 9, got \(level)") }
        guard let t = GeneratorOptions.parseStart(start) else {
            throw ValidationError("--start: cannot read '\(start)' as a UTC time (use 2019-10-01T00:00:00Z, '2019-10-01 00:00:00 UTC' or 2019-10-01)")
        }
        guard t + Int64(hours) * 3600 <= 253_402_300_800 else {
            throw ValidationError("--start/--hours: the time window must end before the year 10000")
        }
        guard !output.isEmpty else { throw ValidationError("-o: the output name is empty") }
        guard !(append && output == "-") else { throw ValidationError("--append needs an output file (-o FILE)") }
    }

    func run() throws {
        if clickstream {
            try runClickstream()
            return
        }
        let options = GeneratorOptions(rows: rows, start: GeneratorOptions.parseStart(start) ?? 0,
                                       hours: hours, seed: seed, jsonl: jsonl)
        let report: GeneratorReport
        do {
            let file = try OutputFile(path: output, gzip: gzip, append: append, level: level)
            report = try generateEvents(options, to: file, header: !append)
            try file.finish()
        } catch {
            throw fail(error)
        }
        printErr(Gen.summary(report, output: output))
    }

    func runClickstream() throws {
        let options = ClickstreamOptions(rows: rows, start: GeneratorOptions.parseStart(start) ?? 0,
                                         hours: hours, seed: seed)
        let report: ClickstreamReport
        do {
            let file = try OutputFile(path: output, gzip: gzip, append: append, level: level)
            report = try generateClickstream(options, to: file)
            try file.finish()
        } catch {
            throw fail(error)
        }
        printErr(Gen.clickstreamSummary(report, output: output))
    }

    static func clickstreamSummary(_ r: ClickstreamReport, output: String) -> String {
        let target = output == "-" ? "standard output" : output
        let events = ClickstreamShape.events.enumerated()
            .filter { r.eventCounts[$0.offset] > 0 }
            .map { "\($0.element) \(r.eventCounts[$0.offset])" }
            .joined(separator: ", ")
        return "sellocli gen: \(r.rows) clickstream rows to \(target): \(r.tenants) tenants, \(r.apps) apps, "
            + "\(r.versions) versions, \(r.sessions) sessions (\(r.returningSessions) of returning users), "
            + "\(r.rowsWithoutSessionId) rows without session_id, \(r.brokenVersionRows) rows of the broken "
            + "\(ClickstreamShape.brokenTenant)/\(ClickstreamShape.brokenApp)/\(ClickstreamShape.brokenPlatform) "
            + "\(ClickstreamShape.brokenVersion); events: \(events)"
    }

    static func summary(_ r: GeneratorReport, output: String) -> String {
        func pct(_ part: Int, _ whole: Int) -> String {
            guard whole > 0 else { return "0.0%" }
            let tenths = (part * 1000 + whole / 2) / whole
            return "\(tenths / 10).\(tenths % 10)%"
        }
        let target = output == "-" ? "standard output" : output
        return "sellocli gen: \(r.rows) rows to \(target): \(r.views) views (\(pct(r.views, r.rows))), "
            + "\(r.carts) carts, \(r.purchases) purchases; repeated views \(pct(r.repeatedViews, r.views)) of views; "
            + "empty brands \(pct(r.emptyBrands, r.rows)); empty category codes \(pct(r.emptyCategoryCodes, r.rows))"
    }
}
