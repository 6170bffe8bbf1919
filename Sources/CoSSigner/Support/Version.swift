/// The version of the CoSSigner package: the library and the `cos-signer` command line (`cos-signer --version`).
/// This is the one place it is written.
package enum CoSSignerVersion {
    /// The package version, semantic versioning.
    package static let current = "0.1.0"
}
