import CoSSigner
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// Who is calling: the subject of the client certificate the TLS handshake verified (nil on plain HTTP, loopback
/// only), and what it may sign.
struct ClientIdentity: Sendable {
    /// The verified client certificate's subject; nil on plain HTTP.
    let subject: DistinguishedName?
    /// The parties it may sign for: nil = every party (plain HTTP on loopback, or TLS without `--clients`).
    let parties: Set<String>?

    /// The check the signer makes once it has chosen the request's party, before any counter is used.
    var partyAllowed: (@Sendable (SupplierParty) -> Bool)? {
        guard let parties else { return nil }
        return { parties.contains($0.id.lowercased()) }
    }

    var description: String? { subject?.rfc2253 }
}

/// Finds the client certificate of a TLS connection and its subject (decoded once per certificate).
final class ClientCertificates: Sendable {
    private let subjects = NIOLockedValueBox<[[UInt8]: DistinguishedName]>([:])

    /// The subject of the verified peer certificate of `channel`'s TLS connection.
    /// - Throws: when the channel has no TLS handler or its certificate cannot be read.
    func subject(of channel: any Channel) async throws -> DistinguishedName? {
        guard let certificate = try await channel.nioSSL_peerCertificate().get() else { return nil }
        let der = try certificate.toDERBytes()
        if let known = subjects.withLockedValue({ $0[der] }) { return known }
        let subject = try Certificate(encoded: der, source: "client certificate").subject
        subjects.withLockedValue { cache in
            if cache.count >= 4096 { cache.removeAll() }
            cache[der] = subject
        }
        return subject
    }
}
