/// Choices made for one call of ``SupplierSigner/sign(xml:mpid:source:call:)``, where they differ from the signer's
/// own (a service signs for many callers with one signer: each request may ask to keep its counter, to be signed
/// deterministically, and may be limited to the parties its caller may sign for).
///
/// ```swift
/// let signed = try signer.sign(xml: bytes, call: SigningCall(preserveCounter: true, deterministic: true,
///                                                            partyAllowed: { $0.id == "ts1" }))
/// ```
package struct SigningCall: Sendable {
    /// Keep the counter the request carries, whatever the signer's counter policy (DCC's tool: `preserveCounter`).
    package var preserveCounter: Bool
    /// Sign with RFC 6979 nonces (true) or random ones (false) for this call; nil: the signer's option.
    package var deterministic: Bool?
    /// Asked once the request's Supplier Party is chosen, before any counter is used: false refuses the request
    /// (``CoSSignerError/Kind/selectionRefused``, reported by ``PartyNotAllowed``); nothing is signed or counted.
    package var partyAllowed: (@Sendable (SupplierParty) -> Bool)?

    package init(preserveCounter: Bool = false, deterministic: Bool? = nil, partyAllowed: (@Sendable (SupplierParty) -> Bool)? = nil) {
        self.preserveCounter = preserveCounter
        self.deterministic = deterministic
        self.partyAllowed = partyAllowed
    }

    /// The signing options for this call.
    package func signing(_ options: SigningOptions) -> SigningOptions {
        guard let deterministic else { return options }
        var options = options
        options.deterministic = deterministic
        return options
    }
}

/// The request's Supplier Party was chosen, but the caller may not sign for it (``SigningCall/partyAllowed``):
/// nothing was signed and no counter was used.
package struct PartyNotAllowed: ClassifiedError, Equatable {
    /// The id of the party the request would be signed for.
    package let party: String
    /// The request's Business Originator.
    package let businessOriginator: EUI64
    /// The document, when known.
    package var source: String?

    package init(party: String, businessOriginator: EUI64, source: String? = nil) {
        self.party = party
        self.businessOriginator = businessOriginator
        self.source = source
    }

    /// Key selection refused (exit 4 in the CLI, which never sets a predicate).
    package var failureClass: FailureClass { .selectionRefused }

    package var description: String {
        "\(source.map { "\($0): " } ?? "")the request (Business Originator \(businessOriginator)) is for Supplier Party \(party), which this caller may not sign for"
    }
}
