import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import PropertyBased
import Testing

/// A generated registry: parties with random distinct MPIDs and User IDs; each party signs for one to three of its
/// User IDs, each with its own identity of the pool (whose entity identifier is that User ID), and holds up to two
/// User IDs that do not sign.
struct PartiesModel: Sendable, CustomStringConvertible {
    var declarations: [PartyDeclaration]
    /// A permutation of the declarations.
    var shuffled: [PartyDeclaration]
    /// MPIDs and EUI-64s no party declares.
    var strangerMPID: MPID
    var strangerUserID: EUI64

    var description: String {
        declarations.map { "\($0.id): \($0.mpids) \($0.userIDs) \($0.credentials.map(\.signingKeyPath))" }.joined(separator: " | ")
    }

    static func generator(parties: ClosedRange<Int>) -> Generator<PartiesModel, Shrink.None<PartiesModel>> {
        let pool = PartiesPool.identities
        return Generator { rng in
            var identities = pool.shuffled(using: &rng)[...]
            let count = Int.random(in: parties.lowerBound...parties.upperBound, using: &rng)
            var usedMPIDs = Set<MPID>()
            var usedIDs = Set(pool.map(\.entity))
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            func newMPID(_ rng: inout any SeededRandomNumberGenerator) -> MPID {
                while true {
                    let text = String((0..<4).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
                    if let mpid = try? MPID(parsing: text), usedMPIDs.insert(mpid).inserted { return mpid }
                }
            }
            func newUserID(_ rng: inout any SeededRandomNumberGenerator) -> EUI64 {
                while true {
                    let id = EUI64(UInt64.random(in: .min ... .max, using: &rng))
                    if usedIDs.insert(id).inserted { return id }
                }
            }
            var declarations = [PartyDeclaration]()
            for index in 0..<count {
                // Leave one identity for each party still to come.
                let available = identities.count - (count - index - 1)
                let signing = Array(identities.prefix(Int.random(in: 1...max(1, min(3, available)), using: &rng)))
                identities = identities.dropFirst(signing.count)
                let mpids = (0..<Int.random(in: 1...3, using: &rng)).map { _ in newMPID(&rng) }
                var userIDs = signing.map(\.entity) + (0..<Int.random(in: 0...2, using: &rng)).map { _ in newUserID(&rng) }
                userIDs.shuffle(using: &rng)
                let credentials = signing.map {
                    CredentialDeclaration(userID: $0.entity, signingKeyPath: $0.name, signingCertificatePath: $0.name)
                }
                declarations.append(PartyDeclaration(id: "party-\(index)", name: "Party \(index)", mpids: mpids, userIDs: userIDs,
                                                     credentials: credentials.shuffled(using: &rng)))
            }
            let shuffled = declarations.shuffled(using: &rng)
            return PartiesModel(declarations: declarations, shuffled: shuffled,
                                strangerMPID: newMPID(&rng), strangerUserID: newUserID(&rng))
        }
    }

    /// How many credentials (and so keys) the model declares.
    var credentialCount: Int { declarations.reduce(0) { $0 + $1.credentials.count } }
}

@Suite struct PartiesPropertyTests {
    init() throws {
        try #require(PartiesPool.identities.count == PartiesPool.expectedCount, "the key pool must load")
    }

    static func load(_ declarations: [PartyDeclaration], counter: PartiesCounter = PartiesCounter()) throws -> PartyRegistry {
        try PartyRegistry(declarations: declarations, source: "generated", loader: PartiesPool.loader(counter: counter))
    }

    @Test func everyMPIDAndOriginatorOfAPartySelectsThatPartyAndTheOriginatorsOwnCredential() async throws {
        await propertyCheck(count: 60, input: PartiesModel.generator(parties: 1...6)) { model in
            let counter = PartiesCounter()
            let registry = try Self.load(model.declarations, counter: counter)
            #expect(registry.keyLoadCount == model.credentialCount)
            #expect(counter.value == model.credentialCount)
            let selector = KeySelector(registry: registry)
            for party in registry.parties {
                for mpid in party.mpids {
                    let selection = try selector.select(KeySelectionQuery(mpid: mpid))
                    #expect(selection.party.id == party.id)
                    #expect(selection.credential == nil)  // no originator: no credential is guessed
                    for userID in party.userIDs {
                        // MPID and Business Originator of one party: the originator's own credential, or a refusal
                        // naming the User IDs the party can sign for; never another User ID's certificate.
                        let query = KeySelectionQuery(mpid: mpid, businessOriginator: userID,
                                                      replacementEntityIdentifier: party.userIDs.last)
                        if let own = party.credential(for: userID) {
                            let both = try selector.select(query)
                            #expect(both.party.id == party.id)
                            #expect(both.credential?.userID == userID)
                            #expect(both.signer === own.signer)
                            #expect(both.certificate?.entityIdentifier == userID)
                        } else {
                            #expect {
                                try selector.select(query)
                            } throws: { error in
                                guard let refused = error as? KeySelectionRefused,
                                    case .noCredentialForOriginator(userID, party.id, let signable) = refused.reasons.first
                                else { return false }
                                return refused.failureClass == .selectionRefused && Set(signable) == Set(party.signingUserIDs)
                                    && refused.description.contains(userID.description)
                            }
                        }
                    }
                }
                for credential in party.credentials {
                    let selection = try selector.select(KeySelectionQuery(businessOriginator: credential.userID))
                    #expect(selection.party.id == party.id)
                    #expect(selection.signer === credential.signer)
                    #expect(selection.certificate?.entityIdentifier == credential.userID)
                }
            }
            // Selecting never loads a key again.
            #expect(counter.value == model.credentialCount)
        }
    }

    @Test func noRequestIsEverSignedByACertificateOfAnotherEntityThanItsOriginator() async throws {
        await propertyCheck(count: 40, input: PartiesModel.generator(parties: 1...6)) { model in
            let registry = try Self.load(model.declarations)
            let selector = KeySelector(registry: registry)
            let mpids: [MPID?] = [nil] + model.declarations.flatMap(\.mpids) + [model.strangerMPID]
            let originators = model.declarations.flatMap(\.userIDs) + [model.strangerUserID]
            for mpid in mpids {
                for originator in originators {
                    for entity in [nil] + originators.prefix(4).map(Optional.some) {
                        let query = KeySelectionQuery(mpid: mpid, businessOriginator: originator, replacementEntityIdentifier: entity)
                        guard let selection = try? selector.select(query) else { continue }
                        #expect(selection.certificate?.entityIdentifier == originator, "\(query)")
                        #expect(selection.credential?.userID == originator)
                    }
                }
            }
        }
    }

    @Test func noIdentifierEverSelectsTwoParties() async throws {
        await propertyCheck(count: 60, input: PartiesModel.generator(parties: 2...6)) { model in
            let registry = try Self.load(model.declarations)
            let selector = KeySelector(registry: registry)
            // Each identifier has exactly one owner.
            for party in registry.parties {
                for mpid in party.mpids {
                    #expect(registry.parties.filter { $0.mpids.contains(mpid) }.map(\.id) == [party.id])
                }
                for userID in party.userIDs {
                    #expect(registry.parties.filter { $0.userIDs.contains(userID) }.map(\.id) == [party.id])
                }
            }
            // Identifiers of two parties: refused, naming both.
            for a in registry.parties {
                for b in registry.parties where a.id != b.id {
                    for (mpid, userID) in zip(a.mpids, b.userIDs) {
                        #expect {
                            try selector.select(KeySelectionQuery(mpid: mpid, businessOriginator: userID))
                        } throws: { error in
                            guard let refused = error as? KeySelectionRefused else { return false }
                            return refused.failureClass == .selectionRefused && Set(refused.parties) == [a.id, b.id]
                                && refused.description.contains(a.id) && refused.description.contains(b.id)
                                && refused.description.contains(mpid.description) && refused.description.contains(userID.description)
                        }
                    }
                    // The replacement certificates of another party are refused too.
                    #expect(throws: KeySelectionRefused.self) {
                        try selector.select(KeySelectionQuery(businessOriginator: a.userIDs[0], replacementEntityIdentifier: b.userIDs[0]))
                    }
                }
            }
            // Unknown identifiers: refused, never a fallback.
            #expect(throws: KeySelectionRefused.self) { try selector.select(KeySelectionQuery(mpid: model.strangerMPID)) }
            #expect(throws: KeySelectionRefused.self) { try selector.select(KeySelectionQuery(businessOriginator: model.strangerUserID)) }
            #expect(throws: KeySelectionRefused.self) {
                try selector.select(KeySelectionQuery(mpid: registry.parties[0].mpids[0], businessOriginator: model.strangerUserID))
            }
            #expect(throws: KeySelectionRefused.self) { try selector.select(KeySelectionQuery()) }
        }
    }

    @Test func anyRegistryWithADuplicatedIdentifierFailsToLoad() async throws {
        let input = zip(PartiesModel.generator(parties: 1...6), Gen.int(in: 0...1000), Gen.int(in: 0...1000), Gen.bool)
        await propertyCheck(count: 80, input: input) { model, from, to, duplicateMPID in
            var declarations = model.declarations
            let source = from % declarations.count
            let target = to % declarations.count
            let value: String
            if duplicateMPID {
                let mpid = declarations[source].mpids[from % declarations[source].mpids.count]
                declarations[target].mpids.append(mpid)
                value = mpid.description
            } else {
                let userID = declarations[source].userIDs[to % declarations[source].userIDs.count]
                declarations[target].userIDs.append(userID)
                value = userID.description
            }
            let counter = PartiesCounter()
            #expect {
                try Self.load(declarations, counter: counter)
            } throws: { error in
                guard let refused = error as? PartyRegistryError else { return false }
                let kind: PartyRegistryProblem.Kind = duplicateMPID ? .duplicateMPID : .duplicateUserID
                let problem = refused.problems.first { $0.kind == kind && $0.reason.contains(value) }
                return refused.failureClass == .selectionRefused && problem != nil
                    && problem.map { $0.reason.contains(declarations[source].id) && $0.reason.contains(declarations[target].id) } == true
            }
            // Every problem is found in one pass, and every key was still loaded exactly once.
            #expect(counter.value == model.credentialCount)
        }
    }

    @Test func selectionDoesNotDependOnDeclarationOrder() async throws {
        await propertyCheck(count: 60, input: PartiesModel.generator(parties: 1...6)) { model in
            let first = KeySelector(registry: try Self.load(model.declarations))
            let second = KeySelector(registry: try Self.load(model.shuffled))
            func outcome(_ selector: KeySelector, _ query: KeySelectionQuery) -> String {
                do throws(KeySelectionRefused) {
                    let selection = try selector.select(query)
                    return "\(selection.party.id) \(selection.certificate.map { "\($0.serialNumber)" } ?? "-") \(selection.reasons)"
                } catch {
                    return "refused \(error.reasons) \(error.parties)"
                }
            }
            let mpids = model.declarations.flatMap(\.mpids) + [model.strangerMPID]
            let userIDs = model.declarations.flatMap(\.userIDs) + [model.strangerUserID]
            var queries = mpids.map { KeySelectionQuery(mpid: $0) } + userIDs.map { KeySelectionQuery(businessOriginator: $0) }
            for mpid in mpids.prefix(4) {
                for userID in userIDs.prefix(6) { queries.append(KeySelectionQuery(mpid: mpid, businessOriginator: userID)) }
            }
            for query in queries {
                #expect(outcome(first, query) == outcome(second, query))
            }
        }
    }

    @Test func duplicateRegistriesFailTheSameWayInAnyOrder() async throws {
        await propertyCheck(count: 40, input: PartiesModel.generator(parties: 2...6)) { model in
            var declarations = model.declarations
            declarations[declarations.count - 1].mpids.append(declarations[0].mpids[0])
            var shuffled = model.shuffled
            if let index = shuffled.firstIndex(where: { $0.id == declarations[declarations.count - 1].id }) {
                shuffled[index].mpids.append(declarations[0].mpids[0])
            }
            for order in [declarations, shuffled] {
                #expect(throws: PartyRegistryError.self) { try Self.load(order) }
            }
        }
    }
}
