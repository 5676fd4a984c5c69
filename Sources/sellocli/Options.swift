import ArgumentParser
import Transforms
#if canImport(Glibc)
import Glibc
#endif

/// `--db`: the store file.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store (a SQLite file).", discussion: "Default: $SELLO_DB, else db in the config file, else ./sello.db.", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("The config file (TOML or YAML; see `sellocli config --help`).", discussion: "Default: $SELLO_CONFIG, else sello.toml, sello.yaml or sello.yml beside the store.", valueName: "path"))
    var config: String?

    var path: String {
        if let db { return db }
        if let env = getenv("SELLO_DB"), let s = String(validatingCString: env), !s.isEmpty { return s }
        return "sello.db"
    }
}

/// `--from` / `--to` for reading subcommands.
struct RangeOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only buckets starting at or after this time (e.g. 2019-10-01, 2019-10-01T13:00:00Z).", valueName: "time"))
    var from: String?
    @Option(name: .long, help: ArgumentHelp("Only buckets starting before this time.", valueName: "time"))
    var to: String?

    func resolved() throws -> (Int64?, Int64?) {
        func p(_ s: String?, _ name: String) throws -> Int64? {
            guard let s else { return nil }
            guard let t = Arguments.time(s) else { throw ValidationError("--\(name): cannot read \(s) as a time (try 2019-10-01 or 2019-10-01T13:00:00Z)") }
            return t
        }
        return (try p(from, "from"), try p(to, "to"))
    }
}

extension Dimension: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { Dimension.allCases.map(\.name) }
    public var defaultValueDescription: String { name }
}

extension InputFormat: ExpressibleByArgument {}

/// `--event`: one of the retail event types, checked once for every subcommand.
struct EventOption: ParsableArguments {
    @Option(name: .long, help: "Event type: view, cart, remove_from_cart or purchase.")
    var event: String = "purchase"

    func validate() throws {
        if !ValueParsers.eventTypeNames.contains(event) {
            throw ValidationError("--event must be one of \(ValueParsers.eventTypeNames.joined(separator: ", "))")
        }
    }
}
