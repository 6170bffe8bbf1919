// swift-tools-version:6.1
// An adapter program written against CoSSigner's front API (SupplierSigner), as a supplier's own package would be:
// it depends on CoSSigner by path and uses only its public API. Build and run it with Scripts/example.
import PackageDescription

let package = Package(
    name: "supplier-adapter-example",
    products: [
        .executable(name: "supplier-adapter-example", targets: ["supplier-adapter-example"]),
    ],
    dependencies: [
        .package(name: "CoSSigner", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "supplier-adapter-example",
            dependencies: [
                .product(name: "CoSSigner", package: "CoSSigner"),
                // Only for TestData.swift's throw-away test PKI; an adapter does not need it.
                .product(name: "CoSSignerTesting", package: "CoSSigner"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
