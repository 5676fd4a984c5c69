import ArgumentParser
import Storage
import Transforms

struct Sql: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run read-only SQL on the store.",
        discussion: """
        The store is opened read-only: statements that would write are refused. The
        public names are the views stats_<tier> for every tier (by default
        stats_minute, stats_hour and stats_day; more with tiers in the config file)
        with columns bucket, event_type, dimension, key, events, value_cents, and the
        ledger table files. Values are printed as SQLite returns them (bucket as Unix
        seconds, value_cents as integer cents).

        Examples:
          # GMV per day, in dollars
          sellocli sql "SELECT date(bucket,'unixepoch') AS day,
                        SUM(value_cents)/100.0 AS gmv
                        FROM stats_day
                        WHERE event_type='purchase' AND dimension='brand'
                        GROUP BY day ORDER BY day"

          # Which files went in, and what they rejected
          sellocli sql --format json "SELECT path, rows_read, rows_rejected,
                                      rejected_by_reason FROM files"

          # Conversion per brand: purchases per 100 views
          sellocli sql "SELECT key,
                        SUM(CASE WHEN event_type='purchase' THEN events END)*100.0
                          / SUM(CASE WHEN event_type='view' THEN events END) AS conv
                        FROM stats_day WHERE dimension='brand'
                        GROUP BY key ORDER BY conv DESC LIMIT 10"
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "One SQL statement (SELECT, WITH, or a read-only PRAGMA).") var query: String

    func run() throws {
        let writer = ResultWriter(format: output.resolved)
        let config = try store.effectiveConfig()
        do {
            let s = try SQLiteStore(path: config.db.value, tiers: config.tiers.value, readOnly: true)
            try s.readOnlyQuery(query, columns: { writer.begin(columns: $0) }, row: { writer.row($0) })
            writer.end()
        } catch {
            throw fail(error)
        }
    }
}
