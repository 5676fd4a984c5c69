import ArgumentParser
import Storage
import Transforms

struct Series: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A time series: events, value and average price per bucket and key.",
        usage: """
        sellocli series [--db <path>] [--config <path>] [--event <event>]
                        [--dim <dimension>] [--key <key>] [--tier <tier>]
                        [--from <time>] [--to <time>] [--format <format>]
        """,
        discussion: """
        One row per bucket and key of the chosen tier, ordered by bucket then key;
        buckets are printed as ISO 8601 UTC start times. Buckets without events are
        absent (no zero rows).

        Examples:
          # Hourly purchases per top-level category
          sellocli series --event purchase --dim category_l1 --tier hour

          # One brand's views per minute during an hour, as CSV
          sellocli series --event view --dim brand --key samsung --tier minute \\
              --from 2019-10-01T00:00:00Z --to 2019-10-01T01:00:00Z --format csv

          # Daily GMV of one product into a spreadsheet
          sellocli series --event purchase --dim product_id --key 1004856 \\
              --tier day --format tsv
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var eventOption: EventOption
    @Option(name: .long, help: ArgumentHelp("Dimension: product_id, brand, category_l1, category_l2 or category_l3.", valueName: "dimension")) var dim: Dimension = .category_l1Default
    @Option(name: .long, help: "Only this key of the dimension.") var key: String?
    @Option(name: .long, help: ArgumentHelp("Tier to read: any configured tier (default minute, hour, day).", discussion: "Default: hour, or the narrowest tier when hour is not configured.", valueName: "tier")) var tier: String?
    @OptionGroup var range: RangeOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let (from, to) = try range.resolved()
        let config = try store.effectiveConfig()
        let tier = try store.readTier(self.tier, in: config)
        do {
            let s = try SQLiteStore(path: config.db.value, tiers: config.tiers.value, readOnly: true)
            let t = try s.series(StatsQuery(eventType: eventOption.event, dimension: dim, tier: tier, from: from, to: to, key: key))
            ResultWriter(format: output.resolved).write(t)
        } catch {
            throw fail(error)
        }
    }
}

extension Dimension {
    static let category_l1Default = Dimension.categoryL1
}
