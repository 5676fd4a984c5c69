import ArgumentParser
import CSupport

/// The executable is a thin layer: parsing, wiring, printing and exit codes. Everything that
/// computes lives in the Transforms and Storage libraries, which never print or exit.
@main
struct Sellocli: ParsableCommand {
    static func main() {
        // Blocks of 1 MiB and more (drained delta batches, sort buffers, eviction arrays) are
        // mapped and returned to the system when freed. glibc otherwise raises this threshold
        // after the first large free and serves such blocks from its heap, where batches of
        // changing sizes, freed on another thread, left holes: 10 M rows peaked at 325 MB
        // instead of 294 MB.
        sello_map_large_blocks(1 << 20)
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "sellocli",
        abstract: "Exact, fast batch analytics over e-commerce clickstream events (REES46 layout).",
        discussion: """
        Typical use (synthetic events; clean, dedupe, aggregate, store; read):
          sellocli gen --rows 100000 --gzip -o events.csv.gz
          sellocli ingest --db sello.db events.csv.gz
          sellocli top --db sello.db --event purchase --dim brand --limit 10
          sellocli series --db sello.db --event view --dim category_l1 --tier hour
          sellocli sql --db sello.db "SELECT * FROM stats_day LIMIT 5"

        In production (a cron tick every minute; monitoring; proof nothing is lost):
          sellocli run --inbox inbox --db sello.db -q
          sellocli status --db sello.db --format json
          sellocli rebuild --from-archive archive --db check.db

        App clickstream catalog (Blueprint):
          sellocli catalog ingest --db cat.db events.jsonl.gz
          sellocli catalog keys --db cat.db --event click --fail-on 1
          sellocli verify --db cat.db --tenant myntra --app shop --platform android \\
              --baseline-version 3.2 --candidate-version 3.3

        The store is one SQLite file: --db, else $SELLO_DB, else ./sello.db.

        Exit codes: 0 ok; 1 a file or the store failed; 3 a report found something
        (--fail-on), or a verify check failed; 64 usage error; 75 the store is busy
        (another process holds its lock); 78 a bad configuration.
        """,
        version: "0.1.0",
        subcommands: [Ingest.self, Top.self, Series.self, Sql.self, Gen.self, Concentrate.self, Split.self, Replay.self, Config.self, Run.self, Retain.self, Archive.self, Rebuild.self, Status.self, Catalog.self, Verify.self]
    )
}
