// swift-tools-version:6.0
import PackageDescription

// C libraries come from Debian (see Makefile `deps`): zlib (gzip writing and fallback), ISA-L
// (fast inflate), SQLite and OpenSSL's libcrypto (SHA-256 of ingested files); CSupport is a
// header of compiler intrinsics (prefetch) and a malloc setting. System-library targets cost
// nothing to build; the only Swift dependency is swift-argument-parser.
let package = Package(
    name: "sellocli",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sellocli", targets: ["sellocli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CISAL", path: "Sources/CISAL"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        // No library: compiler intrinsics (prefetch) as static inline functions in a header.
        .systemLibrary(name: "CSupport", path: "Sources/CSupport"),
        .target(
            name: "Transforms",
            dependencies: ["CZlib", "CISAL", "CCrypto", "CSupport"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "Storage",
            dependencies: ["Transforms", "CSQLite"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "sellocli",
            dependencies: [
                "Transforms", "Storage", "CSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TransformsTests", dependencies: ["Transforms"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Transforms"]),
        // The executable's own code (config loading and parsing), through @testable import.
        .testTarget(name: "sellocliTests", dependencies: ["sellocli", "Transforms"]),
    ],
    swiftLanguageModes: [.v5]
)
