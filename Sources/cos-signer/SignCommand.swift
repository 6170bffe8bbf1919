import ArgumentParser
import CoSSigner

struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a DUIS request with an enveloped XML signature (ECDSA P-256, SHA-256).",
        discussion: """
            The output is compact (no whitespace between elements), as DCC's own tool produces and accepts, \
            unless --keep-whitespace is given. Any ds:Signature placeholder at the end of the request is replaced. \
            Nothing is written when signing fails.

            Examples:
              cos-signer sign --key xml-sign.key.pem --cert xml-sign.pem -o signed.xml request.xml
              PASS=secret cos-signer sign --key enc.key.pem --passphrase-env PASS --cert xml-sign.pem - < request.xml
            """
    )

    @OptionGroup var key: KeyOptions

    @Flag(help: "Keep the input's whitespace between elements instead of writing the compact form.")
    var keepWhitespace = false

    @Flag(help: "Sign deterministically (RFC 6979): the same input and key always give the same bytes.")
    var deterministic = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Output file ('-' for standard output).", valueName: "OUT"))
    var output: String = "-"

    @Option(help: ArgumentHelp("Largest input accepted, in bytes.", valueName: "BYTES"))
    var maxInputBytes: Int = XMLParseLimits.default.maxDocumentBytes

    @Argument(help: ArgumentHelp("The request to sign ('-' for standard input).", valueName: "INPUT"))
    var input: String

    func run() throws {
        let signer = try key.makeSigner()
        let bytes = try Files.read(input, maxBytes: maxInputBytes)
        var limits = XMLParseLimits.default
        limits.maxDocumentBytes = maxInputBytes
        let options = SigningOptions(keepWhitespace: keepWhitespace, deterministic: deterministic, limits: limits)
        let signed = try signer.sign(bytes, options: options, source: input == "-" ? "standard input" : input)
        try Files.writeAtomically(signed.bytes, to: output)
    }
}
