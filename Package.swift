// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "CoSSigner",
    products: [
        .library(name: "CoSSigner", targets: ["CoSSigner"]),
        // Test tooling for adapters' own tests and for ours: the test PKI, the conformance kit, the public-vector
        // runners and the differential corpus (not part of the signing product).
        .library(name: "CoSSignerTesting", targets: ["CoSSignerTesting"]),
        .executable(name: "cos-signer", targets: ["cos-signer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // `swift package generate-documentation --target CoSSigner` (Scripts/docs): the DocC catalogue.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        // PKCS#11 declarations only (p11-kit's pkcs11.h, Debian libp11-kit-dev): a module is loaded with dlopen at
        // run time, never linked, so there is no pkg-config and no link line.
        .systemLibrary(name: "CPKCS11"),
        .target(
            name: "CoSSigner",
            dependencies: [
                "COpenSSL",
                "CLibXML2",
                "CPKCS11",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .target(
            name: "CoSSignerTesting",
            dependencies: ["CoSSigner", "COpenSSL"]
        ),
        .executableTarget(
            name: "cos-signer",
            dependencies: [
                "CoSSigner",
                "CoSSignerTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What every test target shares: paths, temporary folders, running programs.
        .target(name: "CoSSignerTestSupport", path: "Tests/CoSSignerTestSupport"),
        .testTarget(
            name: "CoSSignerTests",
            // cos-signer is listed so `swift test` builds the executable the CLI tests run.
            dependencies: [
                "CoSSigner",
                "CoSSignerTesting",
                "CoSSignerTestSupport",
                "cos-signer",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The service and the database counter store (targets that need SwiftNIO, Hummingbird, PostgreSQL) are declared
// unless COSSIGNER_CORE_ONLY=1: Scripts/ci-hardening builds the core targets alone under the sanitizers (the
// sanitizer runs cover our code; instrumenting the networking stack would multiply CI time for nothing of ours).
let coreOnly = Context.environment["COSSIGNER_CORE_ONLY"] == "1"
if !coreOnly {
    // RequestID counters in PostgreSQL, shared by replicas (CoSSignerPostgres); `cos-signer` uses it for
    // `--counter-store postgresql://…`.
    package.dependencies += [
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ]
    package.targets += [
        .target(
            name: "CoSSignerPostgres",
            dependencies: [
                "CoSSigner",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CoSSignerPostgresTests",
            dependencies: ["CoSSigner", "CoSSignerPostgres", "CoSSignerTesting", "CoSSignerTestSupport", "cos-signer"]
        ),
    ]
    package.products.append(.library(name: "CoSSignerPostgres", targets: ["CoSSignerPostgres"]))
    for target in package.targets where target.name == "cos-signer" {
        target.dependencies.append("CoSSignerPostgres")
    }

    // The service, `cos-signer-server`: its HTTP layer is a library target of its own, so that the `cos-signer` CLI
    // links no networking (its start-up is unchanged) and the server's pieces can be tested and reused.
    package.dependencies += [
        // Traits off: the server reads no swift-configuration and needs no full-Foundation form coding.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ]
    package.targets += [
        .target(
            name: "CoSSignerServer",
            dependencies: [
                "CoSSigner",
                "CoSSignerPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            // The OpenAPI description is compiled into the binary (PackageResources.openapi_yaml): served as it is.
            resources: [.embedInCode("openapi.yaml")]
        ),
        .executableTarget(
            name: "cos-signer-server",
            dependencies: [
                "CoSSignerServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "CoSSignerServerTests",
            // The executables are listed so that `swift test` builds the binaries the tests run.
            dependencies: ["CoSSigner", "CoSSignerTesting", "CoSSignerTestSupport", "cos-signer", "cos-signer-server"]
        ),
    ]
    package.products += [
        .executable(name: "cos-signer-server", targets: ["cos-signer-server"]),
    ]
}

// Settings every Swift target shares.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}

// libFuzzer harnesses (Sources/CoSSignerFuzz): declared only when Scripts/fuzz builds them, with
// COSSIGNER_FUZZ=1 and `-sanitize=fuzzer,address`, in its own scratch path. A normal `swift build` or
// `swift test` never sees this target, so it never tries to link it against libFuzzer.
if Context.environment["COSSIGNER_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "CoSSignerFuzz",
            dependencies: ["CoSSigner"],
            swiftSettings: [.enableExperimentalFeature("Extern"), .enableUpcomingFeature("MemberImportVisibility")]
        ))
    package.products.append(.executable(name: "CoSSignerFuzz", targets: ["CoSSignerFuzz"]))
}
