/// The version of the CoSSigner package: the library and the `cos-signer` command line (`cos-signer --version`).
/// This is the one place it is written.
public enum CoSSignerVersion {
    /// The package version, semantic versioning.
    public static let current = "0.1.0"
}
