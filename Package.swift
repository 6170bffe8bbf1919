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
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .target(
            name: "CoSSigner",
            dependencies: [
                "COpenSSL",
                "CLibXML2",
                .product(name: "Logging", package: "swift-log"),
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
            dependencies: ["CoSSigner", "cos-signer"]
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
