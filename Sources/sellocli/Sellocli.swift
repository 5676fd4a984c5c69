import ArgumentParser

/// The executable is a thin layer: parsing, wiring, printing and exit codes. Everything that
/// computes lives in the Transforms and Storage libraries, which never print or exit.
@main
struct Sellocli: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sellocli",
        abstract: "Exact, fast batch analytics over e-commerce clickstream events (REES46 layout).",
        discussion: """
        Typical use:
          sellocli gen --rows 100000 --gzip -o events.csv.gz     # synthetic REES46 events
          sellocli ingest --db sello.db events.csv.gz            # clean, dedupe, aggregate, store
          sellocli top --db sello.db --event purchase --dim brand --limit 10
          sellocli series --db sello.db --event view --dim category_l1 --tier hour
          sellocli sql --db sello.db "SELECT * FROM stats_day LIMIT 5"

        The store is one SQLite file: --db, else $SELLO_DB, else ./sello.db.

        Exit codes: 0 ok; 1 a file or the store failed; 64 usage error; 75 the store is busy (locked by
        another process); 78 a bad configuration.
        """,
        version: "0.1.0",
        subcommands: [Ingest.self, Top.self, Series.self, Sql.self, Gen.self, Concentrate.self, Split.self, Replay.self, Config.self, Run.self, Retain.self, Archive.self, Rebuild.self, Status.self, Catalog.self]
    )
}
