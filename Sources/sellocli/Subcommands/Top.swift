import ArgumentParser
import Storage
import Transforms

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The top keys of a dimension by value (GMV for purchases) or by events.",
        usage: """
        sellocli top [--db <path>] [--config <path>] [--event <event>]
                     [--dim <dimension>] [--tier <tier>] [--from <time>]
                     [--to <time>] [--by <by>] [--limit <limit>]
                     [--format <format>]
        """,
        discussion: """
        Sums the buckets of one tier whose start lies in [--from, --to) and ranks the
        keys. Columns: the dimension's key, events, value (decimal, two places),
        avg_price (value / events, rounded half away from zero). Ties are broken by
        the other measure, then by key, so the output is the same on every run.

        Examples:
          # Brands by GMV over everything in the store
          sellocli top --event purchase --dim brand

          # The 5 most viewed category paths on 1 October, as JSON
          sellocli top --event view --dim category_l3 --by events --limit 5 \\
              --from 2019-10-01 --to 2019-10-02 --format json

          # Products added to carts in one hour, from the minute tier
          sellocli top --event cart --dim product_id --tier minute \\
              --from 2019-10-01T13:00:00Z --to 2019-10-01T14:00:00Z
        """
    )

    enum By: String, ExpressibleByArgument { case value, events }

    @OptionGroup var store: StoreOptions
    @OptionGroup var eventOption: EventOption
    @Option(name: .long, help: ArgumentHelp("Dimension: product_id, brand, category_l1, category_l2 or category_l3.", valueName: "dimension")) var dim: Dimension = .brand
    @Option(name: .long, help: ArgumentHelp("Tier to read: any configured tier (default minute, hour, day).", discussion: "Default: hour, or the narrowest tier when hour is not configured.", valueName: "tier")) var tier: String?
    @OptionGroup var range: RangeOptions
    @Option(name: .long, help: "Rank by value or by events.") var by: By = .value
    @Option(name: .long, help: "How many keys to print.") var limit: Int = 10
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let (from, to) = try range.resolved()
        let config = try store.effectiveConfig()
        let tier = try store.readTier(self.tier, in: config)
        do {
            let s = try SQLiteStore(path: config.db.value, tiers: config.tiers.value, readOnly: true)
            let t = try s.top(StatsQuery(eventType: eventOption.event, dimension: dim, tier: tier, from: from, to: to), byValue: by == .value, limit: limit)
            ResultWriter(format: output.resolved).write(t)
        } catch {
            throw fail(error)
        }
    }
}
