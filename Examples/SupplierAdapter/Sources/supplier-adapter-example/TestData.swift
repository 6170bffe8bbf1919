// The one file of the example that uses CoSSigner's test tooling (TestPKI, of the CoSSignerTesting product): an
// adapter has its own parties.toml, keys, certificates and requests instead, and depends on CoSSigner alone.
import CoSSigner
import CoSSignerTesting
import Foundation

/// A throw-away test PKI of two Supplier Parties (NOT FOR PRODUCTION), written to a temporary folder: the parties
/// registry, each party's XML signing key and certificate, and one unsigned 6.23 request per party.
struct TestData {
    /// What the example needs to know about one test party.
    struct Party {
        /// The registry id (`ts1`, `ts2`).
        let id: String
        /// Its MPIDs (`TS1E`, `TS1G`).
        let mpids: [String]
        /// Its User ID: the Business Originator of its requests.
        let userID: EUI64
        /// The meter its sample requests target.
        let businessTarget: EUI64
        /// The sample requests' ImportMPxN.
        let importMPxN: String
        /// An unsigned immediate 6.23 of this party, as an adapter would receive it (UTF-8 XML).
        let requestFile: String
        /// Its replacement certificates (DER): digital signing, key agreement, key agreement top-up.
        let digitalSigning: [UInt8]
        let keyAgreement: [UInt8]
        let keyAgreementTopUp: [UInt8]
    }

    /// The temporary folder everything is written to.
    let folder: String
    /// `parties.toml`: the parties registry (keys and certificates relative to it).
    let partiesFile: String
    /// The issuing CA certificate (DER): the certification path of every request.
    let issuingCA: [UInt8]
    let parties: [Party]

    /// Makes a test PKI of two parties in a new temporary folder.
    static func make() throws -> TestData {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("supplier-adapter-example-\(UUID().uuidString)").path
        let pki = try TestPKI(partyCount: 2)
        try pki.write(to: folder)
        let parties = pki.parties.map { party in
            Party(id: party.id, mpids: party.mpids, userID: party.userID, businessTarget: party.businessTarget,
                  importMPxN: party.importMPxN, requestFile: folder + "/" + party.immediateRequestPath,
                  digitalSigning: party.digitalSigning.certificate.derBytes,
                  keyAgreement: party.keyAgreement.certificate.derBytes,
                  keyAgreementTopUp: party.keyAgreementTopUp.certificate.derBytes)
        }
        return TestData(folder: folder, partiesFile: folder + "/parties.toml",
                        issuingCA: pki.issuingCA.certificate.derBytes, parties: parties)
    }

    /// Deletes the temporary folder.
    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}
