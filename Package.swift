// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "CoSSigner",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "CoSSigner", targets: ["CoSSigner"]),
        .executable(name: "cos-signer", targets: ["cos-signer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
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
        .executableTarget(
            name: "cos-signer",
            dependencies: [
                "CoSSigner",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CoSSignerTests",
            // cos-signer is listed so `swift test` builds the executable the CLI tests run.
            dependencies: [
                "CoSSigner",
                "cos-signer",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

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
