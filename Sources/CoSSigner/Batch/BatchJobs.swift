import Foundation

/// Where signed documents go.
package enum BatchDestination: Sendable, Equatable {
    /// Standard output (one input only).
    case standardOutput
    /// One named file (one input only).
    case file(String)
    /// A directory: each output keeps its input's file name.
    case directory(String)

    func path(for input: BatchInput) -> String {
        switch self {
        case .standardOutput: "-"
        case .file(let path): path
        case .directory(let dir): dir.hasSuffix("/") ? dir + input.fileName : dir + "/" + input.fileName
        }
    }
}

/// Signs one input of a batch: read (bounded) → ``RequestSigner`` → atomic write.
package struct BatchSigningJob: Sendable {
    /// The per-document pipeline.
    package let signer: RequestSigner
    /// Where outputs go.
    package let destination: BatchDestination
    /// The largest input read.
    package let maxInputBytes: Int

    /// How many inputs a worker of the CLI takes at a time (``process(_:)-([BatchInput])``): enough for the
    /// signing of a group to run with warm caches, few enough that a kill loses little work (a group's
    /// counters are assigned before its outputs are written) and results keep flowing.
    package static let groupSize = 16

    /// The hidden folder inside an output directory that holds partial outputs (see ``BatchOutputDirectory``),
    /// so the output directory itself only ever holds complete files, even after a kill.
    package static let partialFolderName = ".cos-signer-partial"

    /// The output directory, for a directory destination.
    private let outputDirectory: BatchOutputDirectory?
    /// The input bytes all workers may hold at once.
    package let memoryBudget: BatchMemoryBudget

    /// Makes the job. For a directory destination, creates its hidden folder for partial outputs.
    /// - Parameter memoryBudget: the input bytes in flight across all the workers of this job (shared by every
    ///   call of ``process(_:)-([BatchInput])``).
    /// - Throws: ``FileError`` if that folder cannot be created or the directory cannot be opened.
    package init(signer: RequestSigner, destination: BatchDestination, maxInputBytes: Int = XMLParseLimits.default.maxDocumentBytes,
                memoryBudget: BatchMemoryBudget = BatchMemoryBudget()) throws(FileError) {
        self.signer = signer
        self.destination = destination
        self.maxInputBytes = maxInputBytes
        self.memoryBudget = memoryBudget
        if case .directory(let dir) = destination {
            outputDirectory = try BatchOutputDirectory(path: dir)
        } else {
            outputDirectory = nil
        }
    }

    /// Makes sure every output is on disk and removes the folder for partial outputs if it is empty. Outputs to a
    /// single file are flushed one by one as they are written; an output directory is flushed in the background
    /// while the batch runs and once more here.
    /// - Returns: the failure if the system reports that an output could not be written to disk, else `nil`.
    @discardableResult
    package func finish() -> FileError? {
        do {
            try outputDirectory?.finish()
            return nil
        } catch {
            return error
        }
    }

    /// Signs `input` and writes its output; never throws: failures become the result.
    package func process(_ input: BatchInput) -> BatchItemResult {
        process([input])[0]
    }

    /// Signs `inputs` and writes their outputs, a phase at a time: inputs are read, then those documents signed,
    /// then their outputs written. The outcome of each input is the one ``process(_:)-(BatchInput)`` gives it;
    /// doing the file system's work together and the signing together keeps each phase's code and data in the
    /// processor's caches (reading and creating files evicts most of what signing uses). A read phase stops once
    /// it holds ``groupBytes`` of input, and each input's size is reserved in the job's ``memoryBudget`` before it
    /// is read (a read phase that already holds inputs stops rather than wait), so memory stays bounded whatever
    /// the inputs' sizes and the number of workers. Never throws: failures become the results, in the order of
    /// `inputs`.
    package func process(_ inputs: [BatchInput]) -> [BatchItemResult] {
        var results: [BatchItemResult] = []
        results.reserveCapacity(inputs.count)
        var start = 0
        while start < inputs.count {
            var read: [Result<[UInt8], FileError>] = []
            var held = 0
            var reserved = 0
            reading: while start + read.count < inputs.count, read.isEmpty || held < Self.groupBytes {
                let input = inputs[start + read.count]
                if outputDirectory != nil, let earlier = input.sameNameAs {
                    read.append(.failure(Self.nameTaken(input, by: earlier)))
                    continue
                }
                let bytes = Result { () throws(FileError) -> [UInt8]? in
                    try Files.read(input.path, maxBytes: maxInputBytes, failureClass: .input) { size in
                        if reserved == 0 {
                            reserved = memoryBudget.acquire(size)
                            return true
                        }
                        guard let amount = memoryBudget.tryAcquire(size) else { return false }
                        reserved += amount
                        return true
                    }
                }
                switch bytes {
                case .success(let document?):
                    held += document.count
                    read.append(.success(document))
                case .success(nil):
                    break reading  // does not fit now: sign what is held first, then read it
                case .failure(let error):
                    read.append(.failure(error))
                }
            }
            let group = inputs[start..<(start + read.count)]
            let signed = zip(group, read).map { input, bytes in
                Result { () throws -> SignedRequest in try signer.sign(try bytes.get(), source: input.displayName) }
            }
            read.removeAll()
            results += zip(group, signed).map { input, signed in output(signed, for: input) }
            memoryBudget.release(reserved)
            start += group.count
        }
        return results
    }

    /// The refusal of an input whose output name an earlier input of the run already has.
    static func nameTaken(_ input: BatchInput, by earlier: String) -> FileError {
        FileError(path: input.path, reason: "has the same file name as \(earlier), given earlier in this run: its output "
            + "'\(input.fileName)' in the output directory would replace that one's, so it is not signed (rename one of them, "
            + "or sign them into different output directories)")
    }

    /// The most input bytes a read phase of ``process(_:)-([BatchInput])`` holds (it reads at least one input).
    package static let groupBytes = 1 << 20

    /// Writes a signed document's output and makes its result.
    private func output(_ signed: Result<SignedRequest, any Error>, for input: BatchInput) -> BatchItemResult {
        do {
            let signed = try signed.get()
            let output: String
            if let outputDirectory {
                output = outputDirectory.outputPath(input.fileName)
                try outputDirectory.write(signed.document.bytes, name: input.fileName)
            } else {
                output = destination.path(for: input)
                try Files.writeAtomically(signed.document.bytes, to: output)
            }
            return BatchItemResult(
                input: input.displayName, output: output == "-" ? "standard output" : output, party: signed.party.isExplicitCredential ? nil : signed.party.id,
                requestID: signed.requestID.description, certificateSerial: signed.certificate.serialNumberDecimal,
                result: .signed, reason: signed.selectionReasons.isEmpty ? nil : signed.selectionReasons.joined(separator: "; "))
        } catch {
            return .failure(input.displayName, error)
        }
    }
}

/// Verifies one input of a batch.
package struct BatchVerificationJob: Sendable {
    /// The verifier (signature, then signer).
    package let verifier: RequestVerifier
    /// When the certificates must be valid (the verifier's clock when nil).
    package let time: Date?
    /// The parties' signing certificates, to name the party whose certificate verified, if given.
    package let parties: PartySigningCertificates?
    /// The largest input read.
    package let maxInputBytes: Int
    /// Where to write the verified signed content (one input only), if anywhere.
    package let signedContentPath: String?
    /// The input bytes all workers may hold at once.
    package let memoryBudget: BatchMemoryBudget

    package init(verifier: RequestVerifier, at time: Date? = nil, parties: PartySigningCertificates? = nil,
                maxInputBytes: Int = XMLParseLimits.default.maxDocumentBytes, signedContentPath: String? = nil,
                memoryBudget: BatchMemoryBudget = BatchMemoryBudget()) {
        self.verifier = verifier
        self.time = time
        self.parties = parties
        self.maxInputBytes = maxInputBytes
        self.signedContentPath = signedContentPath
        self.memoryBudget = memoryBudget
    }

    /// Verifies `input`; never throws: failures become the result. The input's size is reserved in the job's
    /// ``memoryBudget`` before it is read, and given back once it is verified.
    package func process(_ input: BatchInput) -> BatchItemResult {
        var reserved = 0
        defer { memoryBudget.release(reserved) }
        do {
            let bytes = try Files.read(input.path, maxBytes: maxInputBytes, failureClass: .input) { size in
                reserved = memoryBudget.acquire(size)
                return true
            } ?? []
            let verified = try verifier.verify(bytes, source: input.displayName, at: time)
            if let signedContentPath {
                try Files.writeAtomically(verified.signedContent, to: signedContentPath)
            }
            let certificate = verified.certificate
            let partyID = parties?.partyID(issuer: certificate.issuer, serial: certificate.serialNumber)
            let requestID = verified.requestID
                ?? RequestSigner.genericRequestID(canonical: verified.signedContent, source: input.displayName)
            return BatchItemResult(input: input.displayName, output: signedContentPath, party: partyID,
                                   requestID: requestID?.description, certificateSerial: certificate.serialNumberDecimal,
                                   result: .valid)
        } catch let invalid as SignatureInvalid {
            var result = BatchItemResult.failure(input.displayName, invalid, outcome: .invalid)
            result.reason = invalid.reason
            result.part = invalid.part.rawValue
            return result
        } catch {
            return .failure(input.displayName, error, outcome: .invalid)
        }
    }
}
