import ArgumentParser

/// `sellocli config`: the effective configuration and where each value came from.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration, with the source of every value.",
        usage: """
        sellocli config [--db <path>] [--config <path>] [--format <format>]
                        [--dedupe-horizon <duration>]
                        [--max-reject-rate <rate>]
        """,
        discussion: """
        Every value comes from, in this order of precedence: a flag (--db,
        --dedupe-horizon, --max-reject-rate), the environment (SELLO_*), the config
        file, the default. The config file is --config, else $SELLO_CONFIG, else
        sello.toml, sello.yaml or sello.yml in the store's directory (the store from
        --db, else $SELLO_DB, else ./sello.db). Two of those files side by side are an
        error, as is any unknown key (a typo must not be ignored silently). Relative
        paths in a file are relative to the file's directory.

        Settings (file key / environment variable: default):
          db / SELLO_DB: sello.db                      the store
          dedupe_horizon / SELLO_DEDUPE_HORIZON: 24h   view-dedupe state kept
                                                       behind the watermark
          max_reject_rate / SELLO_MAX_REJECT_RATE: 0.05  (also "5%")
          accepted_lateness / SELLO_ACCEPTED_LATENESS: the dedupe horizon
          archive.dir / SELLO_ARCHIVE_DIR: archive beside the store
          archive.partition / SELLO_ARCHIVE_PARTITION: hour (or day)
          run.surge_bytes / SELLO_RUN_SURGE_BYTES: 256MiB  (256MB = 10^6 B units,
                                                            1GiB = 2^30 B)
          run.wait / SELLO_RUN_WAIT: 0s
          run.interval / SELLO_RUN_INTERVAL: 1m
          tiers / SELLO_TIERS: minute 1m kept 24h, hour 1h kept 31d, day 1d unlimited

        Tiers: each has a name (a-z, 0-9, _; it names the view stats_<name>), a width
        and a retention (a duration, or unlimited, the default). The list replaces the
        default list as a whole; tiers are used narrowest first. Adding a tier needs
        no code change: the next ingest creates its table and fills it from the events
        ingested from then on. SELLO_TIERS holds the list as
        name:width[:retention],... Durations: 90s, 15m, 24h, 7d, 2w, 1h30m (a bare
        number is seconds).

        Warnings (on standard error, and in the JSON output): a tier kept for less
        than the dedupe horizon or the accepted lateness; a tier width that does not
        divide a wider one.

        The file is TOML or YAML (by its extension), in a strict subset: TOML tables,
        arrays of tables, strings, integers, floats, booleans, arrays, inline tables,
        comments; YAML block mappings and sequences, plain and quoted scalars, flow
        sequences, comments. Anything else is an error naming the line.

        Examples:

          The defaults, with their sources, as TOML (itself a valid config file):
            sellocli config

          A store with a 15-minute tier kept a week and a day-partitioned archive:
            cat > sello.toml <<'TOML'
            dedupe_horizon = "24h"
            [[tiers]]
            name = "minute"
            width = "1m"
            retention = "24h"
            [[tiers]]
            name = "quarter"
            width = "15m"
            retention = "7d"
            [[tiers]]
            name = "day"
            width = "1d"
            retention = "unlimited"
            [archive]
            partition = "day"
            TOML
            sellocli config --format json

          The same in YAML (sello.yaml):
            dedupe_horizon: 24h
            tiers:
              - name: minute
                width: 1m
                retention: 24h
              - name: quarter
                width: 15m
                retention: 7d
              - name: day
                width: 1d
                retention: unlimited
            archive:
              partition: day

          What would an ingest with a shorter horizon use, and why:
            SELLO_DEDUPE_HORIZON=6h sellocli config --db /data/sello.db

        Exit status: 0 ok; 64 usage error (or a bad flag value); 78 a bad config file
        or SELLO_* value, or several config files.
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case toml, json }

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "Output format: toml (sources as comments) or json (a source field per value).")
    var format: Format = .toml

    @Option(name: .customLong("dedupe-horizon"), help: ArgumentHelp("As for ingest: override the dedupe horizon.", valueName: "duration"))
    var dedupeHorizon: String?

    @Option(name: .customLong("max-reject-rate"), help: ArgumentHelp("As for ingest: override the maximum reject rate.", valueName: "rate"))
    var maxRejectRate: String?

    func run() throws {
        var flags = ConfigFlags()
        flags.dedupeHorizon = dedupeHorizon
        flags.maxRejectRate = maxRejectRate
        let c = try store.effectiveConfig(flags)
        print(format == .toml ? c.toml() : c.json(), terminator: "")
        for w in c.warnings { printErr("sellocli: warning: \(w)") }
    }
}
